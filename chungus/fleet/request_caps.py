"""A model's per-request bounds as command-line options (`chungus models add|set`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from chungus.fleet.models import Model

# option -> (Model field, highest value its column holds, help)
CAPS: dict[str, tuple[str, int, str]] = {
    "max_output_tokens": (
        "max_output_tokens",
        2_147_483_647,
        "most tokens one answer may ask for, also sent as max_tokens when a request names "
        "none (default 4096; 0: no cap, the engine's default)",
    ),
    "max_n": ("max_n", 32_767, "most choices (`n`) one request may ask for (default 8; 0: none)"),
    "max_prompts": (
        "max_prompts",
        32_767,
        "most prompts in one /v1/completions array (default 64; 0: no cap)",
    ),
}


def add_cap_arguments(parser: argparse.ArgumentParser) -> None:
    """Options for the caps; left out, a model keeps what it has."""
    for option, (_, highest, help_text) in CAPS.items():
        parser.add_argument(
            f"--{option.replace('_', '-')}", type=_count(highest), metavar="N", help=help_text
        )
    parser.add_argument(
        "--allow-engine-options",
        action=argparse.BooleanOptionalAction,
        help="pass on per-request engine settings that affect other users of the engine "
        "(Ollama keep_alive, num_ctx, num_gpu…); by default they are dropped",
    )


def apply_cap_options(model: Model, options: dict[str, Any]) -> list[str]:
    """Set the caps given in `options` on `model` (unsaved); return the fields changed."""
    changed = []
    values = {field: options.get(option) for option, (field, _, _) in CAPS.items()}
    values["allow_engine_options"] = options.get("allow_engine_options")
    for field, value in values.items():
        if value is not None and getattr(model, field) != value:
            setattr(model, field, value)
            changed.append(field)
    return changed


def describe_caps(model: Model) -> str:
    """One line for the operator: the model's bounds as they now are."""
    out = model.max_output_tokens or "no cap"
    engine_options = "passed on" if model.allow_engine_options else "dropped"
    return (
        f"max output tokens {out}, n up to {model.max_n or 'any'}, "
        f"prompts up to {model.max_prompts or 'any'}, engine options {engine_options}"
    )


def _count(highest: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not 0 <= value <= highest:
            raise argparse.ArgumentTypeError(f"{value} must be between 0 and {highest}")
        return value

    return parse
