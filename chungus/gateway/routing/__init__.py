"""Choosing a backend: strategies, breakers, admission queues, health checks."""
