"""A batch's progress and ETA from its counts (pure)."""

from __future__ import annotations

import pytest

from chungus.dashboard.batch_progress import UNKNOWN, duration_words, eta_seconds, fraction


def test_the_fraction_is_the_done_lines_of_all():
    assert fraction(10, 4) == 0.4
    assert fraction(10, 10) == 1.0


def test_the_fraction_of_a_batch_with_no_lines_is_zero():
    assert fraction(0, 0) == 0.0


def test_the_fraction_stays_between_zero_and_one():
    assert fraction(10, 12) == 1.0
    assert fraction(10, -1) == 0.0


def test_the_eta_is_the_lines_left_at_the_rate_so_far():
    assert eta_seconds(total=10, done=4, elapsed=60.0) == pytest.approx(90.0)
    assert eta_seconds(total=1000, done=1, elapsed=2.0) == pytest.approx(1998.0)


@pytest.mark.parametrize(
    ("total", "done", "elapsed"),
    [(10, 0, 60.0), (10, 4, 0.0), (10, 4, -5.0), (10, 10, 60.0), (0, 0, 60.0), (10, 11, 60.0)],
)
def test_there_is_no_eta_without_a_rate_or_with_nothing_left(total, done, elapsed):
    assert eta_seconds(total, done, elapsed) is None


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0.0, "0 s"), (0.2, "1 s"), (40.0, "40 s"), (59.5, "1 min"), (60.0, "1 min"),
        (80.0, "1 min"), (90.0, "2 min"), (150.0, "3 min"), (181.0, "3 min"),
        (3599.0, "1 h"), (3600.0, "1 h"), (3 * 3600 + 290.0, "3 h 5 min"),
    ],
)  # fmt: skip
def test_a_wait_is_said_in_seconds_then_in_minutes(seconds, words):
    assert duration_words(seconds) == words


@pytest.mark.parametrize("seconds", [None, float("inf"), float("nan"), -1.0])
def test_an_unknown_wait_is_a_dash(seconds):
    assert duration_words(seconds) == UNKNOWN == "—"
