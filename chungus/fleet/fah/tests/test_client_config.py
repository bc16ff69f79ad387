"""The client's config.xml: its text, its mode (0600), and a passkey read from the
environment whose errors never show it."""

import stat
import xml.etree.ElementTree as ElementTree

import pytest

from chungus.fleet.fah.client_config import PasskeyMissing, read_passkey, render, write

PASSKEY = "0123456789abcdef0123456789abcdef"


def test_it_renders_the_clients_options_with_values_escaped():
    text = render('a"b&<c', 42, PASSKEY)
    options = {e.tag: e.get("v") for e in ElementTree.fromstring(text)}
    assert options == {"user": 'a"b&<c', "team": "42", "cpus": "0", "passkey": PASSKEY}
    assert "passkey" not in render("ada", 1, "")


def test_the_file_is_written_0600_even_over_an_older_readable_file(tmp_path):
    path = tmp_path / "config.xml"
    path.write_text("old")
    path.chmod(0o644)
    write(path, render("ada", 1, PASSKEY))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert PASSKEY in path.read_text()


def test_the_passkey_comes_from_the_named_variable():
    assert read_passkey("FAH_PASSKEY", {"FAH_PASSKEY": f" {PASSKEY}\n"}) == PASSKEY
    assert read_passkey("", {"FAH_PASSKEY": PASSKEY}) == ""


def test_a_missing_or_malformed_passkey_is_refused_without_showing_it():
    with pytest.raises(PasskeyMissing, match=r"\$FAH_PASSKEY .* is not set"):
        read_passkey("FAH_PASSKEY", {})
    with pytest.raises(PasskeyMissing) as caught:
        read_passkey("FAH_PASSKEY", {"FAH_PASSKEY": "not-a-passkey-but-a-secret"})
    assert "not-a-passkey-but-a-secret" not in str(caught.value)
