"""Placement on declared (simulated) GPUs."""

from chungus.scheduling.placement import GIB, Assignment, Gpu, Node, Policy, Work, place


def node(name, cards=2, gib=24):
    return Node(name, tuple(Gpu(i, gib * GIB) for i in range(cards)))


def test_work_that_fits_gets_a_gpu():
    decision = place([node("a")], [], [Work("llama", 1, 10 * GIB)])
    assert decision.assignments == [Assignment("llama", "a", (0,))]
    assert not decision.pending and not decision.evictions


def test_binpack_fills_a_used_card_before_a_free_one():
    running = [(Work("small", 1, 8 * GIB), Assignment("small", "a", (1,)))]
    decision = place([node("a")], running, [Work("next", 1, 8 * GIB)], Policy.BINPACK)
    assert decision.assignments[0].gpu_indices == (1,)


def test_spread_prefers_the_emptiest_card():
    running = [(Work("small", 1, 8 * GIB), Assignment("small", "a", (1,)))]
    decision = place([node("a")], running, [Work("next", 1, 8 * GIB)], Policy.SPREAD)
    assert decision.assignments[0].gpu_indices == (0,)


def test_binpack_and_spread_choose_different_nodes():
    nodes = [node("a"), node("b")]
    running = [(Work("w", 1, 20 * GIB), Assignment("w", "a", (0,)))]
    asks = [Work("x", 1, 2 * GIB)]
    assert place(nodes, running, asks, Policy.BINPACK).assignments[0].node == "a"
    assert place(nodes, running, asks, Policy.SPREAD).assignments[0].node == "b"


def test_multi_gpu_work_stays_on_one_node():
    decision = place([node("a", cards=1), node("b", cards=4)], [], [Work("tp4", 4, 20 * GIB)])
    assert decision.assignments == [Assignment("tp4", "b", (0, 1, 2, 3))]


def test_pending_work_says_why():
    decision = place([node("a", gib=11)], [], [Work("big", 1, 18 * GIB)])
    assert decision.pending == {"big": "needs 18.0 GiB on 1 GPU(s), largest free GPU has 11.0 GiB"}
    wide = place([node("a", cards=2)], [], [Work("tp8", 8, GIB)])
    assert "largest node has 2" in wide.pending["tp8"]


def test_higher_priority_evicts_lower_priority_preemptible_work_only():
    running = [
        (Work("batch", 1, 20 * GIB, priority=1, preemptible=True), Assignment("batch", "a", (0,))),
        (Work("service", 1, 20 * GIB, priority=1), Assignment("service", "a", (1,))),
    ]
    decision = place([node("a")], running, [Work("urgent", 1, 20 * GIB, priority=5)])
    assert decision.evictions == ["batch"]
    assert decision.assignments == [Assignment("urgent", "a", (0,))]


def test_equal_or_higher_priority_work_is_never_evicted():
    running = [
        (Work("peer", 1, 20 * GIB, priority=5, preemptible=True), Assignment("peer", "a", (0,)))
    ]
    decision = place([node("a", cards=1)], running, [Work("same", 1, 20 * GIB, priority=5)])
    assert not decision.evictions and "same" in decision.pending


def test_eviction_can_be_forbidden():
    running = [(Work("batch", 1, 20 * GIB, preemptible=True), Assignment("batch", "a", (0,)))]
    decision = place(
        [node("a", cards=1)],
        running,
        [Work("urgent", 1, 20 * GIB, priority=9)],
        allow_eviction=False,
    )
    assert not decision.evictions and "urgent" in decision.pending


def test_higher_priority_requests_are_placed_first():
    decision = place(
        [node("a", cards=1)],
        [],
        [Work("low", 1, 20 * GIB, priority=1), Work("high", 1, 20 * GIB, priority=9)],
    )
    assert [a.work_id for a in decision.assignments] == ["high"]
    assert "low" in decision.pending


def test_an_empty_inventory_places_nothing():
    assert place([], [], [Work("x", 1, GIB)]).pending == {"x": "no GPUs in the inventory"}


def test_eviction_spares_work_whose_leaving_would_not_help():
    def held(name, gib, card, priority, preemptible=True):
        return (Work(name, 1, gib * GIB, priority, preemptible), Assignment(name, "a", (card,)))

    running = [
        held("tiny", 2, 0, priority=0),  # the cheapest victim, but its card stays too full
        held("service", 20, 0, priority=9, preemptible=False),
        held("batch", 20, 1, priority=1),
    ]
    decision = place([node("a")], running, [Work("urgent", 1, 20 * GIB, priority=5)])
    assert decision.evictions == ["batch"]
    assert decision.assignments == [Assignment("urgent", "a", (1,))]
