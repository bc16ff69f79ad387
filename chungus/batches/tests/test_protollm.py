"""protollm's formats: its request bodies, task messages and Redis records (pure)."""

from __future__ import annotations

import re

import orjson
import pytest

from chungus.batches import protollm
from chungus.lib.openai_errors import InvalidRequest


def task(prompt: object, prompt_type: str = protollm.CHAT) -> bytes:
    """A message as protollm's backend publishes it (broker.send_task)."""
    kwargs = {"prompt": prompt, "prompt_type": prompt_type}
    return orjson.dumps({"type": "task", "task": "generate", "args": [], "kwargs": kwargs,
                         "id": "j1", "retries": 0, "eta": None})  # fmt: skip


def test_a_generate_body_becomes_one_user_message_with_protollms_defaults():
    job = protollm.parse_job({"job_id": "j1", "meta": {}, "content": "Hi"}, protollm.GENERATE)
    assert job.messages == [{"role": "user", "content": "Hi"}]
    assert job.chat_body("gemma") == {
        "model": "gemma", "messages": job.messages, "temperature": 0.2, "max_tokens": 8096,
    }  # fmt: skip


def test_meta_maps_onto_the_chat_completion():
    meta = {"temperature": 0.7, "tokens_limit": 5, "stop_words": ["\n"], "model": "m"}
    messages = [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}]
    body = {"job_id": "j", "priority": 3, "source": "local", "meta": meta, "messages": messages}
    job = protollm.parse_job(body, protollm.CHAT)
    assert (job.model, job.priority) == ("m", 3)
    chat = job.chat_body("m")
    assert (chat["temperature"], chat["max_tokens"], chat["stop"]) == (0.7, 5, ["\n"])
    assert len(chat["messages"]) == 2


def test_nulls_in_meta_leave_the_engines_defaults():
    job = protollm.parse_job(
        {"job_id": "j", "meta": {"temperature": None, "tokens_limit": None}, "content": "x"},
        protollm.GENERATE,
    )
    assert job.chat_body("m") == {"model": "m", "messages": job.messages}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"meta": {}, "content": "x"}, "job_id"),
        ({"job_id": "", "meta": {}, "content": "x"}, "job_id"),
        ({"job_id": "x" * 201, "meta": {}, "content": "x"}, "job_id"),
        ({"job_id": "j", "meta": {}, "content": 5}, "content"),
        ({"job_id": "j", "meta": [], "content": "x"}, "meta"),
        ({"job_id": "j", "meta": {"temperature": "hot"}, "content": "x"}, "temperature"),
        ({"job_id": "j", "meta": {"tokens_limit": 0}, "content": "x"}, "tokens_limit"),
        ({"job_id": "j", "meta": {"tokens_limit": True}, "content": "x"}, "tokens_limit"),
        ({"job_id": "j", "meta": {"stop_words": [1]}, "content": "x"}, "stop_words"),
        ({"job_id": "j", "priority": "high", "meta": {}, "content": "x"}, "priority"),
    ],
)
def test_a_bad_generate_body_names_its_field(body, param):
    with pytest.raises(InvalidRequest) as error:
        protollm.parse_job(body, protollm.GENERATE)
    assert error.value.param == param


@pytest.mark.parametrize("messages", [None, [], [{"role": "user"}], ["hi"]])
def test_a_bad_chat_names_messages(messages):
    with pytest.raises(InvalidRequest) as error:
        protollm.parse_job({"job_id": "j", "meta": {}, "messages": messages}, protollm.CHAT)
    assert error.value.param == "messages"


def test_a_task_message_is_read_as_its_prompt_type_says():
    chat = {"job_id": "j1", "meta": {}, "messages": [{"role": "user", "content": "Hi"}]}
    assert protollm.parse_task(task(chat)).kind == protollm.CHAT
    single = {"job_id": "j2", "meta": {}, "content": "Hi"}
    assert protollm.parse_task(task(single, protollm.GENERATE)).job_id == "j2"


@pytest.mark.parametrize(
    ("raw", "job_id"),
    [
        (b"{not json", None),
        (b"[1]", None),
        (orjson.dumps({"id": "j9", "kwargs": "x"}), "j9"),
        (task({"job_id": "j1", "meta": {}}, "other"), "j1"),
        (task({"job_id": "j1", "meta": {}, "messages": []}), "j1"),
    ],
)
def test_a_message_that_is_no_job_is_refused_keeping_what_id_it_has(raw, job_id):
    with pytest.raises(InvalidRequest):
        protollm.parse_task(raw)
    assert protollm.task_job_id(raw) == job_id


def test_the_model_is_the_jobs_own_then_the_default_then_the_only_one():
    job = protollm.parse_job(
        {"job_id": "j", "meta": {"model": "a"}, "content": ""}, protollm.GENERATE
    )
    assert protollm.choose_model(job, "d", {"a", "b"}) == "a"
    plain = protollm.parse_job({"job_id": "j", "meta": {}, "content": ""}, protollm.GENERATE)
    assert protollm.choose_model(plain, "d", {"a", "b"}) == "d"
    assert protollm.choose_model(plain, None, {"a"}) == "a"
    with pytest.raises(InvalidRequest):
        protollm.choose_model(plain, None, {"a", "b"})


def test_answers_and_errors_are_read_as_protollm_stores_them():
    answer = {"choices": [{"message": {"role": "assistant", "content": "Hello"}}]}
    assert protollm.content_of(answer) == "Hello"
    assert protollm.content_of({"choices": []}) == ""
    envelope = {"error": {"message": "The model 'x' does not exist.", "type": "invalid"}}
    assert protollm.error_of(404, envelope) == {
        "type": "ValidationError", "msg": "The model 'x' does not exist.",
    }  # fmt: skip
    assert protollm.error_of(500, None) == {"type": "Exception", "msg": "HTTP 500"}


def test_the_status_record_has_protollms_fields():
    record = orjson.loads(protollm.status_record(protollm.COMPLETED, "done", 0.0, result="x"))
    assert set(record) == {"status", "last_update", "status_message", "is_completed",
                           "result", "error"}  # fmt: skip
    assert record["is_completed"] and record["status"] == "completed"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", record["last_update"])
    working = orjson.loads(protollm.status_record(protollm.IN_PROGRESS, "working", 0.0))
    assert not working["is_completed"]
    assert orjson.loads(protollm.answer_record("x")) == {"result": "x"}


def test_the_brokers_urls_come_from_ours_or_protollms_variables():
    assert protollm.amqp_url({"RABBITMQ_URL": "amqp://a"}) == "amqp://a"
    env = {"RABBIT_MQ_HOST": "mq", "RABBIT_MQ_PORT": "5673", "RABBIT_MQ_LOGIN": "u@x",
           "RABBIT_MQ_PASSWORD": "p/w"}  # fmt: skip
    assert protollm.amqp_url(env) == "amqp://u%40x:p%2Fw@mq:5673/"
    assert protollm.redis_url({"REDIS_HOST": "r", "REDIS_PORT": "1"}) == "redis://r:1/0"
    assert protollm.redis_url({"REDIS_URL": "redis://x/2"}) == "redis://x/2"
    assert protollm.redis_url({"PROTOLLM_REDIS_URL": "redis://p", "REDIS_URL": "x"}) == "redis://p"


def test_tokens_limit_is_bounded_by_the_models_cap_not_refused():
    job = protollm.parse_job({"job_id": "j", "meta": {}, "content": "x"}, protollm.GENERATE)
    assert job.chat_body("m", cap=4096)["max_tokens"] == 4096
    assert job.chat_body("m", cap=0)["max_tokens"] == 8096
