"""Deployments over time: declared, planned, placed, supervised, drained, under a lease."""
