"""/v1/files through the official openai client against a running CHUNGUS: two tenants and
an operator's key, files stored under CHUNGUS_HOME by id, answers as OpenAI's spec says."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from asgiref.sync import sync_to_async

from chungus.accounts.keyinfo import KeyInfo
from chungus.batches.files_api import stored_name
from chungus.batches.models import File
from chungus.batches.tests.inprocess import batches_client
from chungus.testing.inprocess import in_process_gateway
from chungus.testing.openai_schema import validate
from chungus.testing.processes import ChungusProcess, chungus_instance

MAX_FILE = 256 * 1024
LINES = b"".join(
    b'{"custom_id": "r%d", "method": "POST", "url": "/v1/chat/completions", '
    b'"body": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}}\n' % i
    for i in range(20)
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChungusProcess]:
    instance = chungus_instance(
        tmp_path_factory.mktemp("files"), CHUNGUS_MAX_FILE_BYTES=str(MAX_FILE)
    )
    instance.create_users("alice", "bob")
    instance.create_key("alice", "--owner", "alice")
    instance.create_key("alice-2", "--owner", "alice")
    instance.create_key("bob", "--owner", "bob")
    instance.create_key("operator")
    instance.start("--no-default-model")
    yield instance
    instance.stop()


def client(site: ChungusProcess, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{site.url}/v1", api_key=site.keys[key], max_retries=0)


def upload(site: ChungusProcess, key: str, data: bytes = LINES, name: str = "in.jsonl"):
    return client(site, key).files.create(file=(name, data), purpose="batch")


def test_a_file_goes_up_is_listed_read_back_and_deleted(site):
    alice = client(site, "alice")
    made = upload(site, "alice")
    validate("OpenAIFile", made.model_dump(exclude_unset=True))
    assert (made.object, made.purpose, made.bytes, made.filename) == (
        "file", "batch", len(LINES), "in.jsonl",
    )  # fmt: skip
    stored = Path(site.home) / "files" / made.id
    assert stored.read_bytes() == LINES
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600

    assert alice.files.retrieve(made.id).model_dump() == made.model_dump()
    assert alice.files.content(made.id).read() == LINES
    listed = httpx.get(
        f"{site.url}/v1/files", headers={"Authorization": f"Bearer {site.keys['alice']}"}
    ).json()
    validate("ListFilesResponse", listed)
    assert made.id in [f["id"] for f in listed["data"]]

    deleted = alice.files.delete(made.id)
    validate("DeleteFileResponse", deleted.model_dump(exclude_unset=True))
    assert deleted.deleted and not stored.exists()
    with pytest.raises(openai.NotFoundError):
        alice.files.retrieve(made.id)


def test_a_tenant_sees_only_its_own_files(site):
    made = upload(site, "alice")
    assert client(site, "alice-2").files.retrieve(made.id).id == made.id, "same owner"
    for other in ("bob", "operator"):
        outsider = client(site, other)
        with pytest.raises(openai.NotFoundError):
            outsider.files.retrieve(made.id)
        with pytest.raises(openai.NotFoundError):
            outsider.files.content(made.id)
        with pytest.raises(openai.NotFoundError):
            outsider.files.delete(made.id)
        assert made.id not in [f.id for f in outsider.files.list()]
    assert client(site, "alice").files.retrieve(made.id).id == made.id, "still there"


def test_the_list_pages_newest_first_with_after(site):
    ids = [upload(site, "bob", name=f"{n}.jsonl").id for n in range(3)]
    bob = client(site, "bob")
    first = bob.files.list(limit=2)
    assert [f.id for f in first.data] == ids[::-1][:2] and first.has_more
    rest = bob.files.list(limit=2, after=first.data[-1].id)
    assert [f.id for f in rest.data][:1] == [ids[0]]
    oldest_first = bob.files.list(order="asc")
    assert [f.id for f in oldest_first.data][-3:] == ids


def test_bad_uploads_get_clear_errors(site):
    with pytest.raises(openai.BadRequestError) as error:
        client(site, "bob").files.create(file=("x.jsonl", LINES), purpose="fine-tune")
    assert error.value.body["param"] == "purpose"  # type: ignore[index]
    with pytest.raises(openai.APIStatusError) as too_big:
        upload(site, "bob", b"x" * (MAX_FILE + 100 * 1024))
    assert too_big.value.status_code == 413
    assert "larger than" in too_big.value.message
    auth = {"Authorization": f"Bearer {site.keys['bob']}"}
    no_file = httpx.post(f"{site.url}/v1/files", data={"purpose": "batch"}, headers=auth)
    assert no_file.status_code == 400 and no_file.json()["error"]["param"] == "file"
    not_multipart = httpx.post(f"{site.url}/v1/files", content=b"{}", headers=auth)
    assert not_multipart.status_code == 400, not_multipart.text
    assert httpx.get(f"{site.url}/v1/files").status_code == 401
    limit = httpx.get(f"{site.url}/v1/files?limit=zero", headers=auth)
    assert limit.status_code == 400 and limit.json()["error"]["param"] == "limit"


def test_a_name_with_a_path_in_it_is_only_data(site):
    made = upload(site, "bob", name="../../etc/evil.jsonl")
    assert made.filename == "evil.jsonl"
    assert (Path(site.home) / "files" / made.id).exists()
    assert stored_name("") == "upload.jsonl" and stored_name("a\\b\\c.jsonl") == "c.jsonl"
    assert len(stored_name("n" * 1000)) == 255


SECRET = "sk-test-files-api"


def in_process():
    return in_process_gateway([], {SECRET: KeyInfo(id=8, name="files")})


def multipart(filename: bytes, data: bytes = LINES) -> tuple[bytes, dict[str, str]]:
    """An upload's body made by hand: httpx would percent-encode a NUL in the name."""
    boundary = b"chungus-test-boundary"
    body = (
        b'--%b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        b'--%b\r\nContent-Disposition: form-data; name="file"; filename="%b"\r\n'
        b"Content-Type: application/jsonl\r\n\r\n%b\r\n--%b--\r\n"
    ) % (boundary, boundary, filename, data, boundary)
    headers = {"Authorization": f"Bearer {SECRET}",
               "Content-Type": f"multipart/form-data; boundary={boundary.decode()}"}  # fmt: skip
    return body, headers


@pytest.mark.django_db(transaction=True)
async def test_a_name_with_a_nul_in_it_is_stored_with_a_replacement_character():
    body, headers = multipart(b"in\x00put\x07.jsonl")
    async with batches_client(in_process()) as client:
        answer = await client.post("/v1/files", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    made = answer.json()
    assert made["filename"] == "in\ufffdput\ufffd.jsonl"
    row = await sync_to_async(File.objects.get)(pk=made["id"])
    assert row.filename == "in\ufffdput\ufffd.jsonl" and row.bytes == len(LINES)


def test_a_name_with_control_characters_or_a_lone_surrogate_is_made_storable():
    assert stored_name("a\x00b\ud800c\x7f.jsonl") == "a\ufffdb\ufffdc\ufffd.jsonl"
    assert stored_name("ümlaut ✓.jsonl") == "ümlaut ✓.jsonl", "printable text is left alone"


async def test_a_401_on_files_is_counted_as_the_completions_count_theirs():
    gateway = in_process()
    wrong = {"Authorization": "Bearer no"}
    async with batches_client(gateway) as client:
        assert (await client.get("/v1/files")).status_code == 401
        assert (await client.post("/v1/files", files={"file": ("a", b"x")})).status_code == 401
        assert (await client.get("/v1/files/file-x/content", headers=wrong)).status_code == 401
    count = gateway.metrics.get_sample_value
    assert count("chungus_unauthenticated_requests_total", {"reason": "missing_api_key"}) == 2
    assert count("chungus_unauthenticated_requests_total", {"reason": "invalid_api_key"}) == 1
    assert not gateway.logs.pending
