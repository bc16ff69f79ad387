"""Users, API keys and their quotas (a part: imports only core and lib)."""
