"""Validate responses against the schemas in OpenAI's official OpenAPI spec."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SPEC = Path(
    os.environ.get(
        "CHUNGUS_OPENAI_SPEC",
        Path(__file__).resolve().parents[2].parent / "shared" / "spec" / "openai-openapi.yaml",
    )
)
URI = "urn:openai-spec"


def _with_nullable(node: Any) -> Any:
    """Rewrite OpenAPI 3.0's `nullable: true` (still used in this 3.1 spec) as JSON Schema."""
    if isinstance(node, list):
        return [_with_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _with_nullable(value) for key, value in node.items()}
    if node.pop("nullable", False):
        if "enum" in node and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
        if isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        elif "type" not in node:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


@functools.cache
def _registry() -> Registry:
    with SPEC.open() as handle:
        spec = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    resource = Resource.from_contents(
        {"$schema": "https://json-schema.org/draft/2020-12/schema", **_with_nullable(spec)}
    )
    return Registry().with_resource(URI, resource)


def validate(schema_name: str, instance: Any) -> None:
    """Raise jsonschema.ValidationError unless `instance` matches the named schema."""
    schema = {"$ref": f"{URI}#/components/schemas/{schema_name}"}
    Draft202012Validator(schema, registry=_registry()).validate(instance)
