"""The composition root: builds one process's collaborators; `chungus serve` (an entry point)."""
