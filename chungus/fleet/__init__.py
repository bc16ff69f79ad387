"""Lifecycle: models, backends, deployments, the reconciler, launchers, inventory (a plane)."""
