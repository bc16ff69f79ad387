"""The one name pattern: what it takes, what it refuses, and how it says so."""

import pytest
from django.core.exceptions import ValidationError

from chungus.lib.names import RULE, InvalidName, check_name, form_field, validator


@pytest.mark.parametrize(
    "name",
    ["a", "gemma3-270m", "small", "chat:1b", "llama3.2:1b", "Qwen/Qwen2.5-0.5B-Instruct",
     "org/model:q4", "hf.co/org/model:Q4_K_M", "operator-key", "v1.2_final", "x" * 200],
)  # fmt: skip
def test_it_takes_the_names_clients_and_operators_use(name):
    assert check_name("model", name) == name


@pytest.mark.parametrize(
    "name",
    ["", "../x", "..", "a/../b", "a/./b", "/etc/passwd", "a//b", "a/", ".hidden", "-rm",
     "x\nrm -rf /", "a b", "a\x00", "a;b", "$(id)", "a`b`", "ümlaut", "a\tb", "x" * 201],
)  # fmt: skip
def test_it_refuses_what_could_be_a_path_an_option_or_a_shell_line(name):
    with pytest.raises(InvalidName) as caught:
        check_name("deployment", name)
    assert str(caught.value).startswith("the deployment name ")


def test_key_names_are_bounded_by_their_column():
    assert check_name("key", "k" * 100)
    with pytest.raises(InvalidName, match="must be 1 to 100 characters, not 101"):
        check_name("key", "k" * 101)


def test_the_error_says_the_rule_in_words():
    with pytest.raises(InvalidName) as caught:
        check_name("model", "../x")
    assert RULE in str(caught.value) and "'../x'" in str(caught.value)


def test_a_refusal_is_a_value_error_so_pydantic_and_argparse_report_it():
    assert issubclass(InvalidName, ValueError)


def test_the_django_validator_and_form_field_refuse_with_the_rule():
    with pytest.raises(ValidationError, match="may hold only letters"):
        validator("key")("my key")
    field = form_field("key")
    assert field.clean("  ok-key  ") == "ok-key" and field.max_length == 100
    with pytest.raises(ValidationError, match="may hold only letters"):
        field.clean("../x")
