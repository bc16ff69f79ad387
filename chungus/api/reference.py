"""The management API's operations, read from its OpenAPI schema for the /api-docs/ page.

Pure functions over the schema dict: the page shows what the schema says, so the two
cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool
    default: str
    description: str


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    description: str
    params: list[Field]  # query parameters, then body fields
    success: str  # e.g. "201: {key, secret}"

    @property
    def anchor(self) -> str:
        slug = "".join(c if c.isalnum() else "-" for c in self.path.strip("/"))
        return f"{self.method.lower()}-{slug}".strip("-")


def operations(openapi: Schema) -> list[Operation]:
    """Every operation of the schema, in the schema's order."""
    components = openapi.get("components", {}).get("schemas", {})
    found = []
    for path, methods in openapi["paths"].items():
        for method, op in methods.items():
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    summary=op.get("summary", ""),
                    description=op.get("description", ""),
                    params=_query(op, components) + _body(op, components),
                    success=_success(op, components),
                )
            )
    return found


def _query(op: Schema, components: Schema) -> list[Field]:
    return [
        _field(p["name"], p.get("schema", {}), p.get("required", False), components)
        for p in op.get("parameters", [])
        if p.get("in") == "query"
    ]


def _body(op: Schema, components: Schema) -> list[Field]:
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return []
    schema = _resolve(content["schema"], components)
    required = set(schema.get("required", []))
    return [
        _field(name, prop, name in required, components)
        for name, prop in schema.get("properties", {}).items()
    ]


def _success(op: Schema, components: Schema) -> str:
    for status, response in op.get("responses", {}).items():
        if str(status).startswith("2"):
            content = response.get("content", {}).get("application/json", {})
            schema = _resolve(content.get("schema", {}), components)
            names = ", ".join(schema.get("properties", {}))
            return f"{status}: {{{names}}}" if names else f"{status}: JSON object"
    return ""


def _field(name: str, prop: Schema, required: bool, components: Schema) -> Field:
    default = "" if required or "default" not in prop else _literal(prop["default"])
    return Field(name, _type(prop, components), required, default, prop.get("description", ""))


def _type(prop: Schema, components: Schema) -> str:
    """A short human reading of a JSON schema: `integer > 0 or null`, `one of a, b`."""
    if "$ref" in prop or "allOf" in prop:
        target = _resolve(prop, components)
        if "enum" in target:
            return "one of " + ", ".join(str(v) for v in target["enum"])
        return str(target.get("title", "object"))
    if "anyOf" in prop:
        return " or ".join(_type(option, components) for option in prop["anyOf"])
    if "enum" in prop:
        return "one of " + ", ".join(str(v) for v in prop["enum"])
    kind = str(prop.get("type", "any"))
    if kind == "array":
        return f"list of {_type(prop.get('items', {}), components)}"
    if prop.get("format") == "date-time":
        return "ISO 8601 date-time"
    if kind == "integer" and prop.get("exclusiveMinimum") == 0:
        return "integer > 0"
    return kind


def _resolve(schema: Schema, components: Schema) -> Schema:
    if "allOf" in schema and len(schema["allOf"]) == 1:
        schema = schema["allOf"][0]
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        return dict(components.get(ref.rsplit("/", 1)[-1], {}))
    return schema


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)
