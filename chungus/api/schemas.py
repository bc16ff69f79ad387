"""Request and response bodies of the management API (pydantic, via ninja)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Literal, TypeAlias

from ninja import Field, Schema
from pydantic import AfterValidator, ConfigDict, StringConstraints

from chungus.accounts.models import ApiKey, Priority, Scope
from chungus.engines import registry
from chungus.fleet.lifecycle import declare as deploying
from chungus.fleet.models import Routing
from chungus.lib.names import help_text

if TYPE_CHECKING:
    EngineName: TypeAlias = str
    DeployableEngine: TypeAlias = str
else:  # the registry's engines, named in the schema so clients see the choices
    EngineName = StrEnum("Engine", {name: name for name in registry.names()})
    DeployableEngine = Literal[tuple(deploying.engine_names())]


def storable(value: str) -> str:
    """Refuse what no database column holds: NUL (PostgreSQL) and lone surrogates (not UTF-8)."""
    if "\x00" in value:
        raise ValueError("NUL characters (\\u0000) are not allowed")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError("lone surrogates (\\ud800-\\udfff) are not text") from None
    return value


Storable = AfterValidator(storable)
Text = Annotated[str, Storable]
PositiveInt = Annotated[int, Field(gt=0, le=2_147_483_647)]  # fits PositiveIntegerField
ModelName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Storable
]
KeyName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Storable
]
SmallPositive = Annotated[int, Field(gt=0, le=32_767)]  # fits PositiveSmallIntegerField
SmallCount = Annotated[int, Field(ge=0, le=32_767)]
Count = Annotated[int, Field(ge=0, le=2_147_483_647)]


class Strict(Schema):
    """A request body: unknown fields are refused, so a typo is not silently ignored."""

    model_config = ConfigDict(extra="forbid")


# Models and backends.


class BackendOut(Schema):
    id: int
    url: str
    engine: str
    upstream_model: str
    max_concurrency: int
    managed_by: str
    health: str
    health_reason: str
    health_checked_at: datetime | None


class ModelOut(Schema):
    id: int
    name: str
    routing: str
    max_output_tokens: int
    max_n: int
    max_prompts: int
    allow_engine_options: bool
    created_at: datetime
    backends: list[BackendOut]


class ModelList(Schema):
    models: list[ModelOut]


class ModelReply(Schema):
    model: ModelOut


# A model's per-request bounds (0: no cap); left out, the model keeps what it has.
OutputCap = Annotated[
    Count | None,
    Field(description="most tokens one answer may ask for; sent when a request names none"),
]
ChoicesCap = Annotated[SmallCount | None, Field(description="most choices (`n`) per request")]
PromptsCap = Annotated[SmallCount | None, Field(description="most prompts per completions array")]
EngineOptions = Annotated[
    bool | None,
    Field(description="pass on per-request engine settings that affect other users"),
]


class ModelCreate(Strict):
    name: ModelName = Field(description=f"the model name clients send ({help_text('model')})")
    url: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=490), Storable
    ] = Field(description="the engine's base URL; a bare http://host:port gets /v1")
    engine: EngineName = "openai"
    upstream_model: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=200), Storable
    ] = Field("", description="model id the engine expects (default: name)")
    max_concurrency: PositiveInt = Field(64, description="requests at once on this backend")
    routing: Routing | None = Field(None, description="how the model's backends share requests")
    max_output_tokens: OutputCap = None
    max_n: ChoicesCap = None
    max_prompts: PromptsCap = None
    allow_engine_options: EngineOptions = None


class ModelUpdate(Strict):
    name: ModelName | None = Field(None, description=help_text("model"))
    routing: Routing | None = None
    max_output_tokens: OutputCap = None
    max_n: ChoicesCap = None
    max_prompts: PromptsCap = None
    allow_engine_options: EngineOptions = None


# API keys.


class KeyOut(Schema):
    id: int
    name: str
    prefix: str
    owner: str | None = Field(description="the owner's username")
    rpm: int | None
    rph: int | None
    tpm: int | None
    allowed_models: list[str]
    priority: str
    scope: str = Field(description="inference (/v1 only) or admin (also the management API)")
    expires_at: datetime | None
    is_active: bool
    created_at: datetime

    @staticmethod
    def resolve_owner(key: ApiKey) -> str | None:
        return key.owner.get_username() if key.owner else None


class KeyList(Schema):
    keys: list[KeyOut]


class KeyReply(Schema):
    key: KeyOut


class KeyIssued(Schema):
    key: KeyOut
    secret: str = Field(description="the key itself: shown in this response only")


class KeyCreate(Strict):
    name: KeyName = Field(description=help_text("key"))
    rpm: PositiveInt | None = Field(None, description="requests per minute (null: no limit)")
    rph: PositiveInt | None = Field(None, description="requests per hour (null: no limit)")
    tpm: PositiveInt | None = Field(None, description="tokens per minute (null: no limit)")
    allowed_models: list[ModelName] = Field(default_factory=list, description="empty: all")
    priority: Priority = Priority.INTERACTIVE
    expires_at: datetime | None = Field(None, description="ISO 8601; without a zone, UTC")
    owner: Text | None = Field(None, description="username of the user who owns the key")
    scope: Scope = Field(Scope.INFERENCE, description="admin: the owner must be a superuser")


class KeyUpdate(Strict):
    """Only the fields sent change; null clears a limit or the expiry."""

    rpm: PositiveInt | None = None
    rph: PositiveInt | None = None
    tpm: PositiveInt | None = None
    allowed_models: list[ModelName] = Field(default_factory=list, description="empty: all")
    priority: Priority = Priority.INTERACTIVE
    expires_at: datetime | None = None
    is_active: bool = Field(True, description="false revokes the key, for good")


# Deployments.


class DeploymentOut(Schema):
    name: str
    source: str
    engine: str
    launcher: str
    replicas: int
    gpus_per_replica: int
    tensor_parallel: int
    pipeline_parallel: int
    context_length: int
    memory_mb: int = Field(description="per GPU; 0: unknown")
    memory_note: str = Field(description="how the memory was estimated")
    priority: int
    always_warm: bool
    idle_timeout_s: int = Field(description="0: never unloaded for idleness")
    desired: str = Field(description="running or stopped")
    state: str = Field(description="pending, placing, starting, ready, draining, stopped, failed")
    state_reason: str
    updated_at: datetime


class DeploymentList(Schema):
    deployments: list[DeploymentOut]


class DeploymentReply(Schema):
    deployment: DeploymentOut


class DeploymentCreate(Strict):
    """The options of `chungus deploy`, named as GET returns them."""

    name: ModelName = Field(
        description=f"the model name clients will send ({help_text('deployment')})"
    )
    source: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), Storable
    ] = Field(
        "packaged",
        description="'packaged', a GGUF path, a Hugging Face id (vLLM) "
        "or a model in Ollama's library (Ollama, e.g. llama3.2:1b)",
    )
    engine: DeployableEngine = deploying.DEFAULT_ENGINE
    launcher: Literal["local", "slurm", "ray"] = "local"
    replicas: SmallPositive = 1
    gpus_per_replica: SmallCount | None = Field(
        None, description="0: CPU; vLLM: tensor x pipeline parallel size (its default)"
    )
    tensor_parallel: SmallPositive = Field(1, description="vLLM only")
    pipeline_parallel: SmallPositive = Field(1, description="vLLM only")
    context_length: PositiveInt = 4096
    memory_mb: Count | None = Field(None, description="memory per GPU (default: estimated)")
    priority: Annotated[int, Field(ge=-32_768, le=32_767)] = Field(
        0, description="higher may evict lower"
    )
    always_warm: bool = Field(False, description="never unload; warm up on schedule")
    idle_timeout_s: Count = Field(
        0, description="seconds without requests before unloading (0: never)"
    )


# Shared.


class Deleted(Schema):
    deleted: bool


class ErrorDetail(Schema):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorReply(Schema):
    error: ErrorDetail


def errors(*statuses: int) -> dict[int, type[ErrorReply]]:
    """Return the `{status: ErrorReply}` responses an operation documents.

    Every operation can answer 401 (no credentials) and 403 (not a superuser, or a
    failed CSRF check); the others are the operation's own.
    """
    return dict.fromkeys(sorted({401, 403, *statuses}), ErrorReply)
