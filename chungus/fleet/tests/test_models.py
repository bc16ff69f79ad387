"""Models and backends as stored: a backend's key is kept for the data plane, never shown."""

import pytest

from chungus.fleet.models import Backend, Model

pytestmark = pytest.mark.django_db
SECRET = "sk-never-shown-back-0123456789"


def test_a_backends_key_is_shown_nowhere_an_operator_looks(admin, caplog):
    model = Model.objects.create(name="guarded")
    backend = Backend.objects.create(
        model=model, url="http://h:8080/v1", engine="llamacpp", api_key=SECRET
    )
    pages = [
        "/", "/partials/models/", "/dashboard/", "/dashboard/partials/backends/",
        "/api/models/", "/admin/fleet/backend/",
        f"/admin/fleet/backend/{backend.id}/change/", f"/admin/fleet/model/{model.id}/change/",
    ]  # fmt: skip
    for page in pages:
        answer = admin.get(page)
        assert answer.status_code == 200, page
        assert SECRET not in answer.content.decode(), page
    assert "guarded" in admin.get("/dashboard/partials/backends/").content.decode()
    assert SECRET not in caplog.text and SECRET not in repr(backend)


def test_the_admin_cannot_set_or_change_a_key_through_its_form(admin):
    model = Model.objects.create(name="guarded")
    backend = Backend.objects.create(model=model, url="http://h:8080/v1", api_key=SECRET)
    form = admin.get(f"/admin/fleet/backend/{backend.id}/change/").content.decode()
    assert 'name="api_key"' not in form
