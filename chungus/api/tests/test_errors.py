"""Every error is OpenAI's envelope: bad JSON, wrong method, unknown path, validation."""

from __future__ import annotations

import pytest

from chungus.api.tests.conftest import assert_error, post

pytestmark = pytest.mark.django_db


def test_bad_json_is_400(admin):
    response = admin.post("/api/keys/create/", "{not json", content_type="application/json")
    assert assert_error(response, 400)["code"] == "invalid_json"


def test_a_missing_body_is_422(admin):
    assert_error(post(admin, "/api/keys/create/"), 422)


def test_a_body_that_is_not_an_object_is_422(admin):
    assert_error(post(admin, "/api/models/create/", ["gemma"]), 422)


def test_a_validation_error_names_every_problem_and_the_first_field(admin):
    error = assert_error(post(admin, "/api/keys/create/", {"name": "", "rpm": 0}), 422, "name")
    assert "name:" in error["message"] and "rpm: Input should be greater than 0" in error["message"]
    assert error["type"] == "invalid_request_error"


def test_a_body_over_djangos_upload_limit_is_413(admin, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = post(admin, "/api/keys/create/", {"name": "k" * 2000})
    error = assert_error(response, 413)
    assert error["code"] == "request_too_large" and "1024 bytes" in error["message"]


def test_a_wrong_method_is_405_with_allow(admin):
    response = admin.get("/api/keys/create/")
    assert assert_error(response, 405)["code"] == "method_not_allowed"
    assert response["Allow"] == "POST"


def test_an_unknown_path_under_api_is_a_json_404(admin):
    assert_error(admin.get("/api/nothing-here/"), 404)


def test_errors_are_never_html(base):
    for client in (base.client(), base.client(base.outsider), base.client(base.operator)):
        response = post(client, "/api/models/create/", {"name": "x"})
        assert response["Content-Type"] == "application/json"
        assert b"<html" not in response.content.lower()
