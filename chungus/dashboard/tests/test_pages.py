"""Who may see which page (Django's test client; the browser tests drive the pages)."""

import re

import pytest

from chungus.accounts.models import ApiKey
from chungus.core.audit import Actor, audit
from chungus.dashboard.tests.conftest import signed_in
from chungus.fleet.models import Backend, Deployment, Model
from chungus.fleet.models import DeploymentState as S

pytestmark = pytest.mark.django_db  # also run on PostgreSQL by scripts/test

OPERATOR_PAGES = ["/dashboard/", "/dashboard/partials/backends/"]
PUBLIC_PAGES = ["/", "/partials/models/"]


@pytest.fixture
def fleet(db):
    model = Model.objects.create(name="gemma")
    Backend.objects.create(model=model, url="http://10.1.2.3:8080/v1", health="healthy")
    Backend.objects.create(model=model, url="http://10.1.2.4:8080/v1", health="unhealthy")
    return model


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_the_home_page_is_public_and_shows_models_and_their_health(fleet, path):
    response = signed_in(None).get(path)
    assert response.status_code == 200
    assert b"gemma" in response.content and b"1 of 2 up" in response.content
    assert b"degraded" in response.content


def test_the_home_page_does_not_reveal_backend_addresses(fleet):
    assert b"10.1.2.3" not in signed_in(None).get("/").content


def test_the_home_page_shows_how_to_call_it(fleet):
    content = signed_in(None).get("/").content
    assert b"http://testserver/v1" in content
    assert b"curl http://testserver/v1/chat/completions" in content
    assert b"from openai import OpenAI" in content


@pytest.mark.parametrize("path", [*OPERATOR_PAGES, "/playground/"])
def test_anonymous_visitors_are_sent_to_sign_in(db, path):
    response = signed_in(None).get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


@pytest.mark.parametrize("path", OPERATOR_PAGES)
def test_users_who_are_not_operators_are_refused(member, path):
    response = signed_in(member).get(path)
    assert response.status_code == 403 and b"Operators only" in response.content


@pytest.mark.parametrize("path", OPERATOR_PAGES)
def test_operators_see_the_operator_pages(operator, fleet, path):
    response = signed_in(operator).get(path)
    assert response.status_code == 200
    assert b"http://10.1.2.3:8080/v1" in response.content


def test_the_dashboard_sets_the_csrf_cookie_its_scripts_send_back(operator):
    response = signed_in(operator).get("/dashboard/")
    assert "csrftoken" in response.cookies


def test_the_dashboard_page_carries_no_key_or_secret(operator, member):
    key, secret = ApiKey.issue("members-key", owner=member)
    content = signed_in(operator).get("/dashboard/").content
    assert secret.encode() not in content and key.key_hash.encode() not in content


def test_signed_in_users_get_the_playground(member):
    response = signed_in(member).get("/playground/")
    assert response.status_code == 200 and "csrftoken" in response.cookies
    assert b"Create a playground key" in response.content


def test_the_navigation_shows_operator_links_to_operators_only(operator, member):
    assert b'href="/dashboard/"' in signed_in(operator).get("/").content
    assert b'href="/dashboard/"' not in signed_in(member).get("/").content
    assert b'href="/dashboard/"' not in signed_in(None).get("/").content


@pytest.mark.parametrize("who", ["anonymous", "member"])
def test_a_live_table_whose_session_ended_reloads_the_page(member, who):
    client = signed_in(member if who == "member" else None)
    response = client.get("/dashboard/partials/backends/", headers={"HX-Request": "true"})
    assert response.status_code == 204 and response["HX-Refresh"] == "true"


def test_the_dashboard_has_the_gpu_chart(operator):
    content = signed_in(operator).get("/dashboard/").content
    assert b'id="chart-gpus"' in content and b"chungus/js/gpus.js" in content


@pytest.fixture
def deployments(db):
    Deployment.objects.create(
        name="llama", source="/models/q4.gguf", gpus_per_replica=2, replicas=3, memory_mb=5120,
        memory_note="GGUF weights 4000 MB + KV cache 600 MB", state=S.READY,
        state_reason="3 replica(s) ready",
    )  # fmt: skip
    Deployment.objects.create(
        name="broken", source="/nope.gguf", state=S.FAILED,
        state_reason="model file /nope.gguf does not exist",
    )  # fmt: skip
    Deployment.objects.create(
        name="leaving", source="packaged", desired="stopped", state=S.DRAINING,
        state_reason="stopped by the operator; draining: 2 request(s) in flight",
    )  # fmt: skip


def rows(content: bytes) -> dict[str, str]:
    """The deployment table's rows by name, as HTML."""
    html = content.decode()
    found = re.findall(r'<tr data-deployment="([^"]+)">(.*?)</tr>', html, re.S)
    return dict(found)


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/partials/deployments/"])
def test_operators_see_deployments_with_state_reason_and_memory_note(operator, deployments, path):
    table = rows(signed_in(operator).get(path).content)
    assert set(table) == {"llama", "broken", "leaving"}
    assert (
        "2 GPUs \N{MULTIPLICATION SIGN} 3" in table["llama"]
        and "CPU \N{MULTIPLICATION SIGN} 1" in table["broken"]
    )
    assert 'title="GGUF weights 4000 MB + KV cache 600 MB">5120 MB' in table["llama"]
    assert 'class="badge ready"' in table["llama"]
    assert (
        'class="badge failed"' in table["broken"] and "/nope.gguf does not exist" in table["broken"]
    )
    assert (
        'class="badge draining"' in table["leaving"]
        and "2 request(s) in flight" in table["leaving"]
    )


def test_each_deployment_gets_the_button_that_changes_it(operator, deployments):
    table = rows(signed_in(operator).get("/dashboard/partials/deployments/").content)
    assert 'data-deployment-action="stop"' in table["llama"]
    assert 'data-deployment-action="start"' in table["broken"]  # failed: try again
    assert 'data-deployment-action="start"' in table["leaving"]  # stopping: change of mind


def test_the_deployment_table_refreshes_itself_and_says_when_it_is_empty(operator):
    page = signed_in(operator).get("/dashboard/").content.decode()
    assert re.search(r'id="deployments" hx-get="/dashboard/partials/deployments/"', page)
    assert 'hx-trigger="every 3s, refresh"' in page and "chungus/js/deployments.js" in page
    assert "No deployments." in page


def test_the_deploy_form_offers_the_engines_and_launchers_chungus_runs(operator):
    page = signed_in(operator).get("/dashboard/").content.decode()
    form = page[
        page.index('id="deploy-form"') : page.index("</form>", page.index('id="deploy-form"'))
    ]
    engines = re.findall(r'<option value="([^"]+)"', form)
    assert engines == ["llamacpp", "vllm", "ollama", "local", "slurm", "ray"]
    for field in ("name", "source", "gpus_per_replica", "always_warm", "idle_timeout_s"):
        assert f'name="{field}"' in form


def test_the_deployment_table_is_for_operators_only(member, deployments):
    response = signed_in(None).get("/dashboard/partials/deployments/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert signed_in(member).get("/dashboard/partials/deployments/").status_code == 403
    response = signed_in(None).get("/dashboard/partials/deployments/", headers={"HX-Request": "1"})
    assert response.status_code == 204 and response["HX-Refresh"] == "true"


def test_the_audit_page_shows_management_actions_to_operators_only(people):
    audit(Actor("operator", "api-key", "10.1.2.3"), "deployment.create", "tiny", {"engine": "x"})
    response = signed_in(people.operator).get("/dashboard/audit/")
    assert response.status_code == 200
    for text in (b"deployment.create", b"tiny", b"10.1.2.3", b"engine=x"):
        assert text in response.content
    assert signed_in(people.owner).get("/dashboard/audit/").status_code == 403
    assert signed_in(None).get("/dashboard/audit/").status_code == 302
