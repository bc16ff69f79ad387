"""What every layer shares: the configuration version, the routing table's types, CLI helpers."""
