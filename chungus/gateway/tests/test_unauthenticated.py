"""Requests without a valid key: counted by reason, and summed up in one line per interval."""

import logging

from prometheus_client import CollectorRegistry

from chungus.gateway.unauthenticated import Unauthenticated


def test_refusals_are_counted_by_reason_and_logged_at_most_once_per_interval(caplog):
    registry, now = CollectorRegistry(), [0.0]
    refusals = Unauthenticated(registry, interval=60, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, "chungus.gateway")
    for second in range(120):
        now[0] = second
        refusals.record("invalid_api_key" if second % 3 else "missing_api_key")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("refused 1 request(s)") and lines[1].startswith("refused 60 ")
    count = registry.get_sample_value
    assert count("chungus_unauthenticated_requests_total", {"reason": "invalid_api_key"}) == 80
    assert count("chungus_unauthenticated_requests_total", {"reason": "missing_api_key"}) == 40
