"""Ollama, spoken to in its native API."""
