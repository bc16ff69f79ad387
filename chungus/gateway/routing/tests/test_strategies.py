"""Routing strategies: which backend of a model takes a request."""

import pytest

from chungus.gateway.routing.strategies import (
    CacheAffinity,
    Candidate,
    LeastOutstanding,
    RoundRobin,
    RouteRequest,
    make_strategy,
)

A, B = Candidate(1, 0), Candidate(2, 0)
PLAIN = RouteRequest("m")


def test_least_outstanding_picks_the_least_loaded():
    assert LeastOutstanding().choose([Candidate(1, 3), Candidate(2, 1)], PLAIN).backend_id == 2


def test_round_robin_takes_turns():
    strategy = RoundRobin()
    assert [strategy.choose([A, B], PLAIN).backend_id for _ in range(4)] == [1, 2, 1, 2]


def test_cache_affinity_returns_a_conversation_to_its_backend():
    strategy = CacheAffinity()
    first = RouteRequest("m", (b"sys", b"turn1"))
    strategy.served(2, first)
    follow_up = RouteRequest("m", (b"sys", b"turn1", b"turn2"))
    assert strategy.choose([A, B], follow_up).backend_id == 2


def test_cache_affinity_prefers_the_longest_known_prefix():
    strategy = CacheAffinity()
    strategy.served(1, RouteRequest("m", (b"sys",)))
    strategy.served(2, RouteRequest("m", (b"sys", b"conv")))
    assert strategy.choose([A, B], RouteRequest("m", (b"sys", b"conv", b"next"))).backend_id == 2


def test_cache_affinity_gives_way_when_its_backend_is_much_busier():
    strategy = CacheAffinity(balance=1.5)
    strategy.served(1, RouteRequest("m", (b"conv",)))
    busy = [Candidate(1, 6), Candidate(2, 0)]
    assert strategy.choose(busy, RouteRequest("m", (b"conv",))).backend_id == 2


def test_cache_affinity_gives_way_when_its_backend_has_no_free_slot_and_another_has():
    strategy = CacheAffinity()
    strategy.served(1, RouteRequest("m", (b"conv",)))
    slots_taken = [Candidate(1, 2, full=True), Candidate(2, 1)]  # 2:1 is within the balance
    assert strategy.choose(slots_taken, RouteRequest("m", (b"conv",))).backend_id == 2


def test_cache_affinity_keeps_the_cache_when_every_backend_is_full():
    strategy = CacheAffinity()
    strategy.served(1, RouteRequest("m", (b"conv",)))
    all_full = [Candidate(1, 2, full=True), Candidate(2, 2, full=True)]
    assert strategy.choose(all_full, RouteRequest("m", (b"conv",))).backend_id == 1


def test_cache_affinity_without_history_is_least_loaded():
    assert (
        CacheAffinity()
        .choose([Candidate(1, 2), Candidate(2, 1)], RouteRequest("m", (b"x",)))
        .backend_id
        == 2
    )


def test_cache_affinity_forgets_the_oldest_prefixes():
    strategy = CacheAffinity(capacity=2)
    for prefix in (b"a", b"b", b"c"):
        strategy.served(1, RouteRequest("m", (prefix,)))
    assert list(strategy.owners) == [b"b", b"c"]


def test_no_candidates_means_no_choice():
    for name in ("least-outstanding", "round-robin", "cache-affinity"):
        assert make_strategy(name).choose([], PLAIN) is None
    with pytest.raises(ValueError, match="unknown routing strategy"):
        make_strategy("random")
