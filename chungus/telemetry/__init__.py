"""The request log, its rollups, charts, usage and retention (a part)."""
