"""Typed settings from the environment, with loud errors."""

import pytest

from chungus.lib.env import SettingError, envbool, envfloat, envint, envstr


def test_it_reads_booleans_in_the_usual_spellings(monkeypatch):
    monkeypatch.setenv("X", "yes")
    assert envbool("X", False) is True
    monkeypatch.setenv("X", "off")
    assert envbool("X", True) is False


def test_it_refuses_a_boolean_it_cannot_read(monkeypatch):
    monkeypatch.setenv("X", "maybe")
    with pytest.raises(SettingError, match="X='maybe' is not a boolean"):
        envbool("X", False)


def test_it_refuses_integers_below_the_minimum(monkeypatch):
    monkeypatch.setenv("N", "0")
    with pytest.raises(SettingError, match="below the minimum 1"):
        envint("N", 5, minimum=1)


def test_it_refuses_a_number_that_is_not_one(monkeypatch):
    monkeypatch.setenv("F", "fast")
    with pytest.raises(SettingError, match="not a number"):
        envfloat("F", 1.0)


def test_it_falls_back_to_defaults_when_unset(monkeypatch):
    monkeypatch.delenv("N", raising=False)
    assert envint("N", 7) == 7
    assert envstr("N", "d") == "d"
