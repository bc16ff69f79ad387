"""Small helpers that know nothing of CHUNGUS: typed environment settings, SSE, child processes."""
