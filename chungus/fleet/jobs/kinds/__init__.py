"""Job kinds: one module each (md/, command.py) behind the contract in base.py."""
