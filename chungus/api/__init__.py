"""The management JSON API under /api/ (an entry point)."""
