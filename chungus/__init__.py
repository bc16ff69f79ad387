"""CHUNGUS: one OpenAI-compatible endpoint over many GPU engines (README.md, Architecture)."""
