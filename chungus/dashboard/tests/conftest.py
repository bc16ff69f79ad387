"""Users for the page tests: the operator (from chungus/conftest.py), an owner of keys, an
outsider and a member; for the browser tests, Debian's headless Chromium and a page (they
build their own running CHUNGUS)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import Browser, Page, expect, sync_playwright

from chungus.accounts.models import ApiKey

# Headless Chromium draws WebGL (the job page's 3D viewer) with SwiftShader on the CPU;
# newer Chromium wants that asked for by name.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--disable-dev-shm-usage", "--enable-unsafe-swiftshader",
]  # fmt: skip
PAGE_TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    expect.set_options(timeout=PAGE_TIMEOUT_MS)
    yield context.new_page()
    context.close()


def signed_in(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def member(db: None) -> User:
    return User.objects.create_user("member", "member@example.com", "pw")


@dataclass
class People:
    operator: User
    owner: User
    outsider: User
    owner_key: ApiKey

    def client(self, user: User | None = None) -> Client:
        return signed_in(user)


@pytest.fixture
def people(operator: User) -> People:
    owner = User.objects.create_user("owner", "owner@example.com", "pw")
    outsider = User.objects.create_user("outsider", "outsider@example.com", "pw")
    owner_key, _ = ApiKey.issue("owners-secret-project", owner=owner, rpm=10)
    return People(operator, owner, outsider, owner_key)
