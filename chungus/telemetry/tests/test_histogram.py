"""Latency histograms: buckets, merging and percentiles."""

import math
import random

from chungus.telemetry import histogram


def test_values_fall_into_log_spaced_buckets():
    assert histogram.bucket_of(0.0) == 0
    assert histogram.bucket_of(0.999) == 0
    assert histogram.bucket_of(1.0) == 1
    assert histogram.bucket_of(2.0) == 5  # four buckets per doubling
    assert histogram.bucket_of(1e9) == histogram.SIZE - 1


def test_an_empty_histogram_has_no_percentile():
    assert histogram.percentile([], 0.5) is None
    assert histogram.percentile([0, 0, 0], 0.95) is None


def test_percentiles_are_within_ten_percent_of_the_exact_values():
    rng = random.Random(7)
    values = [rng.lognormvariate(math.log(800), 0.6) for _ in range(20_000)]
    counts: list[int] = []
    for value in values:
        histogram.record(counts, value)
    ordered = sorted(values)
    for q in (0.5, 0.95, 0.99):
        exact = ordered[int(q * len(ordered)) - 1]
        estimate = histogram.percentile(counts, q)
        assert estimate is not None
        assert abs(estimate - exact) / exact < 0.10, (q, estimate, exact)


def test_merged_histograms_equal_one_histogram_of_all_values():
    first: list[int] = []
    second: list[int] = []
    both: list[int] = []
    for value in (0.5, 3.0, 40.0):
        histogram.record(first, value)
        histogram.record(both, value)
    for value in (3.1, 9000.0):
        histogram.record(second, value)
        histogram.record(both, value)
    histogram.merge(first, second)
    assert first == both
    assert histogram.trimmed([*both, 0, 0]) == both


def test_a_single_value_reads_back_from_its_bucket():
    counts: list[int] = []
    histogram.record(counts, 250.0)
    estimate = histogram.percentile(counts, 0.5)
    assert estimate is not None and abs(estimate - 250.0) / 250.0 < 0.10
    histogram.record(counts, 1e9)
    assert histogram.percentile(counts, 1.0) == histogram.BOUNDS[-1]
