"""CHUNGUS_HOME 0700, the secret key 0600 from the start, umask 077 for what follows."""

import os
import stat
import threading

import pytest

from chungus.lib.private_files import PRIVATE_UMASK, private_home, secret_key


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
