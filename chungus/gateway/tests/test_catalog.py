"""GET /v1/models and /v1/models/{id}: every request a key makes counts against its limits,
also one for a model that does not exist, and an unknown id is said back bounded."""

from chungus.accounts.keyinfo import KeyInfo
from chungus.core.routes import BackendInfo, ModelInfo
from chungus.testing.inprocess import asgi_client, in_process_gateway

SECRET = "sk-test-catalog"
# Never called: listing models asks no backend.
GEMMA = ModelInfo("gemma", (BackendInfo(1, "http://127.0.0.1:9/v1"),))


def gateway(**key):
    return in_process_gateway([GEMMA], {SECRET: KeyInfo(id=5, name="catalog", **key)})


def auth():
    return {"Authorization": f"Bearer {SECRET}"}


async def test_unknown_model_ids_count_against_the_keys_request_limit():
    async with asgi_client(gateway(rpm=3)) as client:
        statuses = [
            (await client.get(f"/v1/models/nobody-{n}", headers=auth())).status_code
            for n in range(4)
        ]
    assert statuses == [404, 404, 404, 429]


async def test_listing_and_reading_models_count_against_the_keys_request_limit():
    async with asgi_client(gateway(rpm=2)) as client:
        listed = await client.get("/v1/models", headers=auth())
        read = await client.get("/v1/models/gemma", headers=auth())
        limited = [await client.get(path, headers=auth()) for path in ("/v1/models", read.url.path)]
    assert [m["id"] for m in listed.json()["data"]] == ["gemma"]
    assert read.json()["id"] == "gemma"
    assert [r.status_code for r in limited] == [429, 429]
    assert limited[0].json()["error"]["type"] == "rate_limit_error"


async def test_an_unknown_id_is_said_back_cut_to_100_characters():
    async with asgi_client(gateway()) as client:
        answer = await client.get("/v1/models/" + "m" * 50_000, headers=auth())
    error = answer.json()["error"]
    assert answer.status_code == 404 and error["code"] == "model_not_found"
    assert len(error["message"]) < 150 and error["message"].startswith("The model 'mmm")


async def test_a_401_on_models_is_counted_not_logged():
    gw, wrong = gateway(), {"Authorization": "Bearer no"}
    async with asgi_client(gw) as client:
        assert (await client.get("/v1/models")).status_code == 401
        assert (await client.get("/v1/models/gemma", headers=wrong)).status_code == 401
    count = gw.metrics.get_sample_value
    assert count("chungus_unauthenticated_requests_total", {"reason": "missing_api_key"}) == 1
    assert count("chungus_unauthenticated_requests_total", {"reason": "invalid_api_key"}) == 1
    assert not gw.logs.pending
