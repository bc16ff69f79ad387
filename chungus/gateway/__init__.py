"""The /v1 data plane: authenticate, limit, admit, route, proxy, account (a plane)."""
