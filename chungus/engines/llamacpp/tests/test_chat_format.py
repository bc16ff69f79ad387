"""Which turn format llama-server gets for a GGUF, and what a model without one gets."""

import pytest

from chungus.engines.gguf_meta import gguf_chat_fields
from chungus.engines.llamacpp.chat_format import NONE, OWN, choose_chat_format
from chungus.engines.llamacpp.server import (
    LlamaServerOptions,
    gguf_chat_format,
    llama_server_binary,
    llama_server_command,
)
from chungus.engines.packaged import packaged_gguf
from chungus.testing.gguf import write_gguf

VOCAB = ["<pad>", "<eos>", "hello", "world"]


@pytest.mark.parametrize(
    ("architecture", "template"),
    [("gemma3", "gemma"), ("gemma", "gemma"), ("qwen2", "chatml"), ("phi3", "phi3")],
)
def test_a_gguf_without_a_template_gets_its_architectures_format(architecture, template):
    chosen = choose_chat_format(architecture, has_template=False)
    assert chosen.template == template and chosen.chat
    assert chosen.flags() == ("--no-jinja", "--chat-template", template)


def test_a_gguf_with_its_own_template_is_served_with_it():
    chosen = choose_chat_format("gemma3", has_template=True)
    assert chosen.template == OWN and chosen.flags() == ("--jinja",)


def test_llama_is_told_apart_by_its_tokenizer():
    assert choose_chat_format("llama", False, "llama-bpe").template == "llama3"
    assert choose_chat_format("llama", False, "default").template == "llama2"


def test_an_unknown_architecture_without_a_template_has_no_chat_format():
    chosen = choose_chat_format("mystery", has_template=False)
    assert chosen.template == NONE and not chosen.chat and chosen.flags() == ()
    assert "'mystery'" in chosen.reason


def test_the_header_is_read_past_the_vocabulary(tmp_path):
    path = write_gguf(
        tmp_path / "t.gguf",
        {
            "general.architecture": "qwen2",
            "tokenizer.ggml.pre": "qwen2",
            "tokenizer.ggml.tokens": VOCAB,
            "tokenizer.ggml.bos_token_id": 2,
            "tokenizer.chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}",
        },
    )
    fields = gguf_chat_fields(path)
    assert (fields.architecture, fields.has_template, fields.tokenizer_pre) == (
        "qwen2",
        True,
        "qwen2",
    )


def test_an_empty_template_counts_as_none(tmp_path):
    path = write_gguf(
        tmp_path / "t.gguf",
        {"general.architecture": "mystery", "tokenizer.ggml.tokens": VOCAB,
         "tokenizer.chat_template": "  "},
    )  # fmt: skip
    assert gguf_chat_format(path).template == NONE


def test_the_packaged_base_gemma_is_served_in_gemmas_own_turns(models_home):
    gguf = packaged_gguf(models_home)
    fields = gguf_chat_fields(gguf)
    assert fields.architecture == "gemma3" and not fields.has_template
    command = llama_server_command(
        llama_server_binary(), gguf, 8080, LlamaServerOptions(alias="gemma")
    )
    assert command[-3:] == ("--no-jinja", "--chat-template", "gemma")


def test_a_file_that_is_not_a_readable_gguf_gets_no_chat_flags(tmp_path):
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(b"GGUF\x03\x00\x00\x00")
    with pytest.raises(ValueError, match="truncated"):
        gguf_chat_fields(truncated)
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"this is not a model")
    command = llama_server_command(
        llama_server_binary(), bogus, 8080, LlamaServerOptions(alias="b")
    )
    assert "--chat-template" not in command and "--jinja" not in command
