"""The lifecycle tables: every move between two states is allowed or refused as drawn."""

from __future__ import annotations

from enum import Enum
from itertools import product

import pytest

from chungus.fleet.states import (
    LIFECYCLES,
    BackendHealth,
    DeploymentState,
    IllegalTransition,
    NodeSource,
    ReplicaState,
    UnknownState,
    predecessors,
    transition,
)

# Written out again here, from the diagrams in the module docstring: a change to a table
# must change this too.
DEPLOYMENT_NEVER = {
    ("stopped", "placing"), ("stopped", "ready"), ("stopped", "draining"),
    ("failed", "placing"), ("failed", "ready"), ("failed", "draining"),
    ("draining", "placing"), ("draining", "ready"),
}  # fmt: skip
ALLOWED: dict[type[Enum], set[tuple[str, str]]] = {
    DeploymentState: {
        (old, new)
        for old, new in product(DeploymentState.values, repeat=2)
        if (old, new) not in DEPLOYMENT_NEVER
    },
    ReplicaState: {
        ("pending", "starting"), ("pending", "stopped"),
        ("starting", "starting"), ("starting", "placing"), ("starting", "ready"),
        ("starting", "restarting"), ("starting", "stopped"),
        ("placing", "placing"), ("placing", "starting"), ("placing", "ready"),
        ("placing", "restarting"), ("placing", "stopped"),
        ("ready", "restarting"), ("ready", "stopped"),
        ("restarting", "starting"), ("restarting", "stopped"),
        ("stopped", "stopped"),
    },
    BackendHealth: {
        ("unknown", "healthy"), ("unknown", "unhealthy"),
        ("healthy", "healthy"), ("healthy", "unhealthy"),
        ("unhealthy", "healthy"), ("unhealthy", "unhealthy"),
    },
    NodeSource: {("local", "local"), ("declared", "declared")},
}  # fmt: skip
EVERY_MOVE = [
    (kind, old, new) for kind in ALLOWED for old, new in product([s.value for s in kind], repeat=2)
]


@pytest.mark.parametrize(("kind", "old", "new"), EVERY_MOVE)
def test_a_move_is_allowed_exactly_when_its_lifecycle_says_so(kind, old, new):
    if (old, new) in ALLOWED[kind]:
        assert transition(kind, old, new) is kind(new)
    else:
        with pytest.raises(IllegalTransition, match=f"cannot go from {old} to {new}$"):
            transition(kind, old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("pending", "placing"), ("placing", "starting"), ("starting", "ready"),
        ("ready", "draining"), ("draining", "stopped"), ("stopped", "pending"),
        ("ready", "starting"),  # a replica ended
        ("draining", "pending"),  # restarting with new settings
        ("ready", "pending"),  # CHUNGUS stopped, or redeployed
        ("stopped", "starting"),  # woken by a request
        ("draining", "starting"),  # taken over from a process that ended mid-drain
        ("starting", "failed"), ("failed", "pending"), ("failed", "stopped"),
    ],
)  # fmt: skip
def test_a_deployment_lives_through_these_moves(old, new):
    assert transition(DeploymentState, old, new, "small") == new


@pytest.mark.parametrize(("old", "new"), sorted(DEPLOYMENT_NEVER))
def test_a_deployment_that_runs_nowhere_is_never_made_ready_placing_or_draining(old, new):
    with pytest.raises(IllegalTransition) as refused:
        transition(DeploymentState, old, new, "small")
    assert str(refused.value) == f"deployment 'small' cannot go from {old} to {new}"
    assert (refused.value.old, refused.value.new) == (old, new)


def test_a_stopped_replica_stays_stopped():
    for state in ReplicaState:
        if state is not ReplicaState.STOPPED:
            with pytest.raises(IllegalTransition, match="a replica cannot go from stopped"):
                transition(ReplicaState, "stopped", state)


def test_a_backend_is_never_unknown_again_and_probing_is_not_recorded():
    with pytest.raises(IllegalTransition, match="cannot go from healthy to unknown"):
        transition(BackendHealth, "healthy", "unknown")
    with pytest.raises(UnknownState, match="'probing' is not a state of a backend health"):
        transition(BackendHealth, "unknown", "probing")


def test_a_value_that_is_no_state_is_refused_as_such():
    with pytest.raises(UnknownState, match="'sleeping' is not a state of deployment 'small'"):
        transition(DeploymentState, "sleeping", "pending", "small")
    with pytest.raises(IllegalTransition):  # UnknownState is one
        predecessors(DeploymentState, "sleeping")


def test_predecessors_are_the_states_a_conditional_update_accepts():
    assert predecessors(DeploymentState, "ready") == {"pending", "placing", "starting", "ready"}
    assert predecessors(DeploymentState, "pending") == set(DeploymentState)
    assert predecessors(ReplicaState, "restarting") == {"starting", "placing", "ready"}


@pytest.mark.parametrize("kind", list(LIFECYCLES))
def test_every_state_has_a_row_in_its_table(kind):
    allowed = LIFECYCLES[kind].allowed
    assert set(allowed) == set(kind)
    assert all(nexts <= set(kind) for nexts in allowed.values())
