"""Every text field of a request-log entry has a length bound that fits its column."""

from chungus.telemetry.entries import BOUNDS, TRUNCATED, LogEntry, bounded, bounded_text
from chungus.telemetry.models import RequestLog


def test_every_bound_fits_its_column():
    for name, limit in BOUNDS.items():
        column = RequestLog._meta.get_field(name).max_length
        assert column is None or limit <= column, name


def test_every_client_chosen_text_field_has_a_bound():
    text = {f.name for f in RequestLog._meta.fields if f.get_internal_type() in (
        "CharField", "TextField")}  # fmt: skip
    assert text == set(BOUNDS)


def test_a_long_field_is_cut_to_its_bound_and_marked():
    entry = LogEntry("chat/completions", 404, model="m" * 8_000_000, prompt="p" * 10**6)
    stored = bounded(entry)
    assert len(stored.model) == BOUNDS["model"] and stored.model.endswith(TRUNCATED)
    assert len(stored.prompt) == BOUNDS["prompt"]
    assert len(entry.model) == 8_000_000, "the caller's entry is left alone"


def test_a_short_field_is_left_as_it_is():
    entry = LogEntry("chat/completions", 200, model="gemma")
    assert bounded(entry) is entry
    assert bounded_text("gemma", 5) == "gemma"
    assert bounded_text("gemma3", 5) == "gemm" + TRUNCATED
