"""Any OpenAI-compatible server, and koboldcpp."""
