"""The console script's words: a hyphenated command names its module (pure)."""

from chungus.cli import command_words


def test_a_hyphenated_command_is_its_module_and_the_rest_is_left_alone():
    assert command_words(["protollm-worker", "--queue", "a-b"]) == [
        "protollm_worker", "--queue", "a-b",
    ]  # fmt: skip
    assert command_words(["--help"]) == ["--help"]
    assert command_words([]) == []
