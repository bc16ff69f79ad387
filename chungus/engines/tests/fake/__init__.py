"""A test's own engine package (see engine.py)."""
