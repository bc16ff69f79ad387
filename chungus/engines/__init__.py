"""One package per engine (how it is launched, spoken to and read), a contract and a registry."""
