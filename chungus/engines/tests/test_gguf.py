"""GGUF models: the file a source names, and the memory estimate made from its header."""

import pytest

from chungus.engines.gguf import gguf_memory_mb, model_path
from chungus.engines.packaged import packaged_gguf


def test_the_estimate_says_how_it_was_made(models_home):
    memory, note = gguf_memory_mb("packaged", 4096, models_home)
    assert 300 < memory < 400
    assert "KV cache 72 MB" in note and "18 layers" in note


def test_parallel_requests_each_get_the_whole_context(models_home):
    one, _ = gguf_memory_mb("packaged", 4096, models_home)
    two, note = gguf_memory_mb("packaged", 4096, models_home, parallel=2)
    assert two > one and "2 x 4096 tokens" in note and "KV cache 144 MB" in note


def test_a_source_is_the_packaged_model_or_an_existing_path(models_home, tmp_path):
    assert model_path("packaged", models_home) == packaged_gguf(models_home)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        model_path(str(tmp_path / "missing.gguf"), tmp_path)


def test_a_file_it_cannot_read_is_an_unknown_estimate(tmp_path):
    memory, note = gguf_memory_mb(str(tmp_path / "missing.gguf"), 4096, tmp_path)
    assert memory == 0 and note.startswith("unknown: model file")
