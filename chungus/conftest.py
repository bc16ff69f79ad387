"""Shared fixtures: one real llama-server, one fake engine for misbehaviour, one CHUNGUS,
and the operator (a superuser) that the page and API tests sign in as."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.contrib.auth.models import User
from django.test import Client

from chungus.fleet.launchers.local import free_port
from chungus.testing.clients import csrf_client
from chungus.testing.processes import (
    ChungusProcess,
    LlamaServer,
    chungus_instance,
    start_llama_server,
    stop_process,
    wait_http,
)
from chungus.testing.slurm import LocalSlurm

FAKE_BEHAVIOURS = ("hang", "die", "error500", "garbage", "slow", "fake-ok")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """The test database, as pytest-django makes it; on PostgreSQL, before it is dropped,
    end the connections that executor threads (sync_to_async off the event loop) still
    hold, which would otherwise stop the drop."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "select pg_terminate_backend(pid) from pg_stat_activity"
                    " where datname = current_database() and pid <> pg_backend_pid()"
                )


POSTGRES = os.environ.get("CHUNGUS_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database of its own, dropped afterwards (for CHUNGUS
    processes that share one database)."""
    name = f"chungus_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(urlsplit(POSTGRES)._replace(path=f"/{name}"))
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def operator(db: None) -> User:
    """The operator: a superuser, with the password `pw`."""
    return User.objects.create_superuser("operator", "operator@example.com", "pw")


@pytest.fixture
def admin(operator: User) -> Client:
    """The operator signed in; CSRF checks are enforced and its POSTs carry a valid token."""
    return csrf_client(operator)


@pytest.fixture(scope="session")
def models_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the packaged model is assembled once for the whole session."""
    return tmp_path_factory.mktemp("models-home")


@pytest.fixture(scope="session")
def llama(models_home: Path) -> Iterator[LlamaServer]:
    """A real llama-server serving the packaged Gemma 3 270M as `gemma`."""
    server = start_llama_server(models_home)
    yield server
    stop_process(server.process)


@pytest.fixture(scope="session")
def fake_engine() -> Iterator[str]:
    """The fake engine (see chungus.testing.fake_engine), for failures on cue."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "chungus.testing.fake_engine", "--port", str(port)]
    )
    wait_http(f"http://127.0.0.1:{port}/health", 30, process)
    yield f"http://127.0.0.1:{port}/v1"
    stop_process(process)


@pytest.fixture(scope="session")
def chungus(
    tmp_path_factory: pytest.TempPathFactory, llama: LlamaServer, fake_engine: str
) -> Iterator[ChungusProcess]:
    """A running CHUNGUS on SQLite with `gemma` (real) and the fake engine's behaviours."""
    instance = chungus_instance(
        tmp_path_factory.mktemp("chungus"),
        CHUNGUS_UPSTREAM_READ_TIMEOUT="3",
        CHUNGUS_MAX_BODY_BYTES="65536",
    )
    instance.cli("models", "add", "gemma", "--url", f"{llama.url}/v1", "--engine", "llamacpp")
    for name in FAKE_BEHAVIOURS:
        upstream = "fake" if name == "fake-ok" else name
        instance.cli("models", "add", name, "--url", fake_engine, "--upstream-model", upstream)
    instance.create_key("main")
    instance.start("--no-default-model")
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSlurm]:
    """A real single-node Slurm with two fake GPU devices (see chungus.testing.slurm)."""
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A real local Ray with two declared GPUs, bound to 127.0.0.1; shut down after the session."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray

    ray.init(address="local", num_cpus=2, num_gpus=2, include_dashboard=False, namespace="chungus")
    yield ray
    ray.shutdown()  # stops the cluster this process started, and nothing else
