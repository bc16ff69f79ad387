"""examples.openai_examples: valid Python and shell, for any base URL and model name."""

from __future__ import annotations

import ast
import shlex

from chungus.api.examples import openai_examples


def test_every_python_example_is_valid_python():
    for example in openai_examples("http://h:1", 'odd "name" it\'s'):
        ast.parse(example.python)


def test_every_curl_example_is_one_shell_command_even_with_quotes_in_the_model():
    for example in openai_examples("http://h:1", "it's"):
        words = shlex.split(example.curl.replace("\\\n", " "))
        assert words[0] == "curl" and "Authorization: Bearer $CHUNGUS_API_KEY" in words


def test_a_model_name_is_quoted_in_a_url():
    [model] = [e for e in openai_examples("http://h:1", "org/a b") if e.slug == "model"]
    assert "http://h:1/v1/models/org/a%20b" in model.curl
