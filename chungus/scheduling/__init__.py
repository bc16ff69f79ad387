"""Pure scheduling decisions: placement of work on GPUs (a part)."""
