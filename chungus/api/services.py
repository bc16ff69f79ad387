"""What the management API does to models, backends, deployments and keys; views only translate.

Every change goes through the ORM's save() and delete(), so the configuration
version is bumped (chungus.core.signals) and serving processes reload.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from chungus.accounts.models import ApiKey, Scope
from chungus.api.schemas import DeploymentCreate, KeyCreate, KeyUpdate, ModelCreate, ModelUpdate
from chungus.core.audit import Actor, audit
from chungus.fleet.backends import normalize_base_url
from chungus.fleet.lifecycle import declare as deploying
from chungus.fleet.models import Backend, Deployment, Model
from chungus.fleet.request_caps import apply_cap_options
from chungus.lib.names import InvalidName, check_name
from chungus.lib.openai_errors import Conflict, InvalidRequest, NotFound

# Models and backends.


def models() -> QuerySet[Model]:
    return Model.objects.prefetch_related("backends")


def get_model(model_id: int) -> Model:
    model = models().filter(pk=model_id).first()
    if model is None:
        raise NotFound(f"No model with id {model_id}.")
    return model


def add_backend(data: ModelCreate, actor: Actor) -> Model:
    """Create the model unless it exists, then add the backend (like `chungus models add`)."""
    _check_name("model", data.name)
    try:
        url = normalize_base_url(data.url)
    except ValueError as exc:
        raise InvalidRequest(str(exc).removeprefix("--"), param="url", code="invalid_url") from None
    try:
        with transaction.atomic():
            model, _ = Model.objects.get_or_create(name=data.name)
            if data.routing and data.routing != model.routing:
                model.routing = data.routing
                model.save(update_fields=["routing"])
            if changed := apply_cap_options(model, data.model_dump()):
                model.save(update_fields=changed)
            if model.backends.filter(url=url).exists():
                raise Conflict(f"Model {model.name!r} already has the backend {url}.", param="url")
            Backend.objects.create(
                model=model,
                url=url,
                engine=data.engine,
                upstream_model=data.upstream_model,
                max_concurrency=data.max_concurrency,
            )
    except IntegrityError:  # a concurrent request added the same thing first
        raise Conflict(f"Model {data.name!r} already has the backend {url}.", param="url") from None
    audit(actor, "model.add", model.name, {"url": url, "engine": data.engine})
    return get_model(model.pk)


def update_model(model_id: int, data: ModelUpdate, actor: Actor) -> Model:
    model = get_model(model_id)
    changed = {field: value for field, value in data if value is not None}
    name = changed.get("name")
    if name and name != model.name:
        _check_name("model", name)
    if name and Model.objects.filter(name=name).exclude(pk=model.pk).exists():
        raise Conflict(f"A model named {name!r} exists already.", param="name")
    for field, value in changed.items():
        setattr(model, field, value)
    if changed:
        try:
            model.save(update_fields=list(changed))
        except IntegrityError:
            raise Conflict(f"A model named {model.name!r} exists already.", param="name") from None
        audit(actor, "model.update", model.name, changed)
    return model


def delete_model(model_id: int, actor: Actor) -> None:
    model = get_model(model_id)
    model.delete()
    audit(actor, "model.delete", model.name)


def delete_backend(model_id: int, backend_id: int, actor: Actor) -> None:
    # By primary key first: a foreign-key lookup with an id past 64 bits crashes SQLite.
    backend = Backend.objects.filter(pk=backend_id).first()
    if backend is None or backend.model_id != model_id:
        raise NotFound(f"Model {model_id} has no backend with id {backend_id}.")
    backend.delete()
    audit(actor, "backend.delete", backend.url, {"model_id": model_id})


# Deployments (chungus.fleet.lifecycle.declare does the work, as for `chungus deploy`).


def deployments() -> QuerySet[Deployment]:
    return Deployment.objects.all()


def get_deployment(name: str) -> Deployment:
    deployment = deployments().filter(name=name).first() if deploying.findable(name) else None
    if deployment is None:
        raise NotFound(f"No deployment named {name!r}.", param="name")
    return deployment


def deploy(data: DeploymentCreate, actor: Actor) -> tuple[Deployment, bool]:
    """Create or redeploy; return the deployment and whether it is new."""
    try:
        deployment, created = deploying.deploy(
            deploying.Spec(**data.model_dump()), settings.CHUNGUS_HOME
        )
    except deploying.DeployError as exc:
        raise InvalidRequest(exc.message, param=exc.param, code="invalid_deployment") from None
    action = "deployment.create" if created else "deployment.update"
    audit(actor, action, deployment.name, {"engine": deployment.engine, "source": data.source})
    return deployment, created


def stop_deployment(name: str, actor: Actor) -> Deployment:
    try:
        deployment = deploying.stop(name)
    except deploying.UnknownDeployment:
        raise NotFound(f"No deployment named {name!r}.", param="name") from None
    audit(actor, "deployment.stop", deployment.name)
    return deployment


def start_deployment(name: str, actor: Actor) -> Deployment:
    try:
        deployment = deploying.start(name)
    except deploying.UnknownDeployment:
        raise NotFound(f"No deployment named {name!r}.", param="name") from None
    audit(actor, "deployment.start", deployment.name)
    return deployment


# API keys.


def keys() -> QuerySet[ApiKey]:
    return ApiKey.objects.select_related("owner")


def get_key(key_id: int) -> ApiKey:
    key = keys().filter(pk=key_id).first()
    if key is None:
        raise NotFound(f"No API key with id {key_id}.")
    return key


def issue_key(data: KeyCreate, actor: Actor) -> tuple[ApiKey, str]:
    """Create a key; return it with its secret, which is never stored or shown again."""
    _check_name("key", data.name)
    if ApiKey.objects.filter(name=data.name).exists():
        raise Conflict(f"A key named {data.name!r} exists already.", param="name")
    fields = data.model_dump(exclude={"name", "owner", "expires_at"})
    owner = _owner(data.owner)
    if data.scope == Scope.ADMIN and not getattr(owner, "is_superuser", False):
        raise InvalidRequest(
            "An admin key must be owned by a superuser: set owner to one.",
            param="scope",
            code="admin_needs_superuser",
        )
    try:
        key, secret = ApiKey.issue(
            data.name, **fields, expires_at=_expiry(data.expires_at), owner=owner
        )
    except IntegrityError:
        raise Conflict(f"A key named {data.name!r} exists already.", param="name") from None
    audit(actor, "key.create", key.name, {"prefix": key.prefix, "scope": key.scope})
    return key, secret


def update_key(key_id: int, data: KeyUpdate, actor: Actor) -> ApiKey:
    """Change the fields that were sent; is_active false revokes the key."""
    key = get_key(key_id)
    changes = data.model_dump(include=data.model_fields_set)
    active = changes.pop("is_active", None)
    if active and not key.is_active:
        raise InvalidRequest(
            "A revoked key stays revoked: create a new key instead.",
            param="is_active",
            code="key_revoked",
        )
    if "expires_at" in changes:
        changes["expires_at"] = _expiry(changes["expires_at"])
    for field, value in changes.items():
        setattr(key, field, value)
    if changes:
        key.save(update_fields=list(changes))
    if changes:
        audit(actor, "key.update", key.name, changes)
    if active is False and key.is_active:
        key.revoke()
        audit(actor, "key.revoke", key.name, {"prefix": key.prefix})
    return key


def delete_key(key_id: int, actor: Actor) -> None:
    key = get_key(key_id)
    key.delete()
    audit(actor, "key.delete", key.name, {"prefix": key.prefix})


def _expiry(value: datetime | None) -> datetime | None:
    """Read a zoneless time as UTC, as the CLI does; refuse a time already past."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)  # as stored; 9999-12-31T23:00-05:00 is past the year 9999
    except OverflowError:
        raise InvalidRequest(
            f"expires_at {value.isoformat()} is outside the years 1 to 9999 in UTC.",
            param="expires_at",
            code="out_of_range",
        ) from None
    if value <= timezone.now():
        raise InvalidRequest(
            f"expires_at {value.isoformat()} is in the past.",
            param="expires_at",
            code="in_the_past",
        )
    return value


def _owner(username: str | None) -> AbstractBaseUser | None:
    if username is None:
        return None
    users = get_user_model().objects
    user = users.filter(**{users.model.USERNAME_FIELD: username}).first()
    if user is None:
        raise InvalidRequest(f"No user named {username!r}.", param="owner", code="unknown_user")
    return user


def _check_name(kind: str, value: str) -> None:
    """Refuse a new name that is not one (chungus.lib.names): 400, naming the field."""
    try:
        check_name(kind, value)
    except InvalidName as exc:
        message = str(exc)
        raise InvalidRequest(
            message[:1].upper() + message[1:] + ".", param="name", code="invalid_name"
        ) from None
