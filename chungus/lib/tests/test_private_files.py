"""CHUNGUS_HOME 0700, the secret key 0600 from the start, umask 077 for what follows, and a
home an older CHUNGUS left open made private when CHUNGUS starts."""

import os
import stat
import subprocess
import threading

import pytest

from chungus.lib.private_files import PRIVATE_UMASK, private_home, secret_key
from chungus.testing.processes import CHUNGUS


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask():
    before = os.umask(0o022)
    yield
    os.umask(before)


def test_a_new_home_is_0700_and_what_is_written_after_is_0600(tmp_path, umask):
    home = private_home(tmp_path / "deep" / "home")
    assert mode(home) == 0o700 and mode(tmp_path / "deep") == 0o700
    (home / "log").write_text("x")
    (home / "jobs").mkdir()
    assert mode(home / "log") == 0o600 and mode(home / "jobs") == 0o700
    assert os.umask(PRIVATE_UMASK) == PRIVATE_UMASK


def test_the_secret_key_is_made_0600_once_and_read_back(tmp_path, umask):
    path = tmp_path / "secret_key"
    first = secret_key(path)
    assert len(first) > 40 and mode(path) == 0o600
    assert secret_key(path) == first
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # nothing left aside


def test_processes_starting_at_once_agree_on_one_key(tmp_path, umask):
    path = tmp_path / "secret_key"
    found: list[str] = []
    threads = [threading.Thread(target=lambda: found.append(secret_key(path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1 and found[0]


def older_home(home):
    """A home as an older CHUNGUS left it: 0755, and the files it wrote 0644."""
    (home / "logs").mkdir(parents=True)
    written = ["secret_key", "chungus.sqlite3", "chungus.sqlite3-wal", "chungus.sqlite3-shm"]
    for name in [*written, "logs/llama-server.log"]:
        (home / name).write_text("x")
        (home / name).chmod(0o644)
    for directory in (home, home / "logs"):
        directory.chmod(0o755)
    return [home / name for name in [*written, "logs/llama-server.log"]]


def test_an_older_home_and_what_chungus_wrote_there_become_private(tmp_path, umask):
    home = tmp_path / "home"
    written = older_home(home)
    private_home(home)
    assert mode(home) == 0o700 and mode(home / "logs") == 0o700
    assert [mode(path) for path in written] == [0o600] * len(written)


def test_chungus_makes_an_older_home_private_when_it_starts(tmp_path):
    home = tmp_path / "home"
    written = older_home(home)
    environment = {**os.environ, "CHUNGUS_HOME": str(home), "CHUNGUS_SECRET_KEY": ""}
    subprocess.run([str(CHUNGUS), "check"], env=environment, check=True, capture_output=True)
    assert mode(home) == 0o700 and all(mode(path) == 0o600 for path in written)


def test_what_belongs_to_another_user_is_left_as_it_is_with_a_warning(
    tmp_path, umask, caplog, monkeypatch
):
    """Giving a file to another user takes root: instead, CHUNGUS runs as another user."""
    home = tmp_path / "home"
    secret, *_ = older_home(home)
    someone_else = os.geteuid() + 1
    monkeypatch.setattr(os, "geteuid", lambda: someone_else)
    private_home(home)
    monkeypatch.undo()
    assert mode(secret) == 0o644
    assert f"{secret} is open to others (mode 644) and belongs to another user" in caplog.text


def test_what_a_link_points_to_is_left_alone(tmp_path, umask):
    home, elsewhere = tmp_path / "home", tmp_path / "shared.log"
    older_home(home)
    elsewhere.write_text("not CHUNGUS's")
    elsewhere.chmod(0o644)
    (home / "logs" / "linked.log").symlink_to(elsewhere)
    private_home(home)
    assert mode(elsewhere) == 0o644 and mode(home / "logs" / "llama-server.log") == 0o600
