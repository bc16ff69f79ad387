"""A fresh start: CHUNGUS_HOME made 0700, its secret key 0600, and all CHUNGUS writes after 0600."""

import os
import stat
import subprocess
import sys

FRESH_START = """
import django
django.setup()
from django.conf import settings
(settings.CHUNGUS_HOME / "later.log").write_text("x")
print(settings.SECRET_KEY)
"""


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def start(home, **env):
    environ = {k: v for k, v in os.environ.items() if k != "CHUNGUS_SECRET_KEY"}
    environ.update(CHUNGUS_HOME=str(home), DJANGO_SETTINGS_MODULE="chungus.settings", **env)
    done = subprocess.run(
        [sys.executable, "-c", FRESH_START], env=environ, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_a_fresh_start_makes_the_home_0700_and_the_secret_key_0600(tmp_path):
    home = tmp_path / "new" / "home"
    key = start(home)
    assert mode(home) == 0o700
    assert mode(home / "secret_key") == 0o600 and (home / "secret_key").read_text() == key
    assert mode(home / "later.log") == 0o600  # umask 077: logs, job files, the database
    assert start(home) == key  # kept


def test_a_configured_secret_key_is_used_and_none_is_written(tmp_path):
    assert start(tmp_path / "home", CHUNGUS_SECRET_KEY="configured") == "configured"
    assert not (tmp_path / "home" / "secret_key").exists()
