"""Which turn format llama-server prompts a GGUF in: its own template, a built-in one, or none.

llama-server falls back to ChatML for a GGUF without `tokenizer.chat_template`,
so a model trained on another format (the packaged base Gemma 3) is prompted in
markers it never saw and echoes them back. CHUNGUS chooses instead: the GGUF's
own template (`--jinja`), else llama.cpp's built-in template for the model's
architecture (`--no-jinja --chat-template NAME`), else no chat at all (chat requests get a
400 that points at /v1/completions).
"""

from __future__ import annotations

from dataclasses import dataclass

from chungus.engines.base import NO_CHAT

OWN = "gguf"  # the GGUF's own Jinja template
NONE = NO_CHAT  # no chat format: only /v1/completions makes sense

# general.architecture → llama.cpp's built-in template (`llama-server --help`,
# --chat-template). Only families whose format is not in doubt.
BUILT_IN: dict[str, str] = {
    "gemma": "gemma", "gemma2": "gemma", "gemma3": "gemma", "gemma3n": "gemma",
    "qwen": "chatml", "qwen2": "chatml", "qwen2moe": "chatml", "qwen2vl": "chatml",
    "qwen3": "chatml", "qwen3moe": "chatml", "internlm2": "chatml",
    "phi3": "phi3", "command-r": "command-r", "cohere2": "command-r",
    "deepseek": "deepseek", "deepseek2": "deepseek3", "chatglm": "chatglm4",
    "exaone": "exaone3", "granite": "granite", "granitemoe": "granite",
    "minicpm": "minicpm", "orion": "orion", "rwkv6": "rwkv-world", "rwkv7": "rwkv-world",
    "gpt-oss": "gpt-oss",
}  # fmt: skip

# Control tokens of the common turn formats. None may appear in an answer's text:
# they are asked for as stop strings on every chat request to llama.cpp, which is
# harmless for a model whose own markers are special tokens (never rendered as text).
CONTROL_MARKERS = (
    "<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>", "<eos>",
    "<|eot_id|>", "<|start_header_id|>", "<|endoftext|>",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ChatFormat:
    template: str  # OWN, a built-in template's name, or NONE
    reason: str

    @property
    def chat(self) -> bool:
        return self.template != NONE

    def flags(self) -> tuple[str, ...]:
        """llama-server's arguments for this format."""
        if self.template == OWN:
            return ("--jinja",)
        if self.template == NONE:
            return ()
        # With Jinja on (this build's default) a name is taken for a Jinja template
        # and the prompt becomes that word: the built-in templates need --no-jinja.
        return ("--no-jinja", "--chat-template", self.template)


def choose_chat_format(
    architecture: str, has_template: bool, tokenizer_pre: str = ""
) -> ChatFormat:
    """The turn format for a GGUF, from what its header says."""
    if has_template:
        return ChatFormat(OWN, "the GGUF's own chat template")
    if architecture == "llama":
        # One architecture, two formats: Llama 3's tokenizer ("llama-bpe") or Llama 2's.
        name = "llama3" if tokenizer_pre == "llama-bpe" else "llama2"
        return ChatFormat(name, f"no template in the GGUF; {name} from its tokenizer")
    built_in = BUILT_IN.get(architecture)
    if built_in:
        return ChatFormat(
            built_in, f"no template in the GGUF; {built_in} for architecture {architecture}"
        )
    return ChatFormat(
        NONE,
        f"the GGUF has no chat template and its architecture {architecture or 'unknown'!r} "
        "has no known turn format",
    )
