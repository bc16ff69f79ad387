"""Reading the GGUF header fields a memory estimate needs."""

import pytest

from chungus.engines.gguf_meta import gguf_metadata, kv_cache_bytes
from chungus.engines.packaged import packaged_gguf


def test_it_reads_the_packaged_models_shape_from_its_header(models_home):
    meta = gguf_metadata(packaged_gguf(models_home))
    assert meta["architecture"] == "gemma3"
    assert (meta["block_count"], meta["attention.head_count_kv"], meta["attention.key_length"]) == (
        18,
        1,
        256,
    )


def test_the_kv_cache_grows_with_the_context():
    meta = {"block_count": 18, "attention.head_count_kv": 1, "attention.key_length": 256}
    assert kv_cache_bytes(meta, 4096) == 18 * 1 * 512 * 2 * 4096
    assert kv_cache_bytes(meta, 8192) == 2 * kv_cache_bytes(meta, 4096)


def test_a_file_that_is_not_gguf_is_refused(tmp_path):
    bogus = tmp_path / "x.gguf"
    bogus.write_bytes(b"nope")
    with pytest.raises(ValueError, match="not a GGUF"):
        gguf_metadata(bogus)
