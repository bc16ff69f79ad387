"""Helpers for tests and benchmarks only: real processes, fakes for what cannot misbehave on cue."""
