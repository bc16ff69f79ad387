"""reference.operations reads the OpenAPI schema into what the docs page shows."""

from __future__ import annotations

from chungus.api.reference import operations
from chungus.api.urls import api


def by_path():
    return {(op.method, op.path): op for op in operations(api.get_openapi_schema())}


def test_it_reads_body_fields_with_types_requirements_and_defaults():
    create = by_path()[("POST", "/api/models/create/")]
    fields = {f.name: f for f in create.params}
    assert list(fields) == [
        "name", "url", "engine", "upstream_model", "max_concurrency", "routing",
        "max_output_tokens", "max_n", "max_prompts", "allow_engine_options",
    ]  # fmt: skip
    assert fields["name"].required and fields["name"].type == "string"
    assert fields["engine"].type == "one of openai, llamacpp, vllm, ollama, koboldcpp"
    assert fields["engine"].default == '"openai"'
    assert fields["max_concurrency"].type == "integer > 0"
    assert fields["max_concurrency"].default == "64"
    assert fields["routing"].type.endswith("or null")


def test_it_reads_query_parameters_and_the_success_shape():
    charts = by_path()[("GET", "/api/chart-data/")]
    assert [f.name for f in charts.params] == ["window", "model"]
    issue = by_path()[("POST", "/api/keys/create/")]
    assert issue.success == "201: {key, secret}"
    fields = {f.name: f for f in issue.params}
    assert fields["expires_at"].type == "ISO 8601 date-time or null"
    assert fields["allowed_models"].type == "list of string"


def test_anchors_are_unique():
    anchors = [op.anchor for op in by_path().values()]
    assert len(anchors) == len(set(anchors))
