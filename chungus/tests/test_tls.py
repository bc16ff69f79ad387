"""Served over TLS (CHUNGUS_TLS=1, behind a proxy that sets X-Forwarded-Proto): cookies are
Secure and HSTS is sent; without it, neither (plain http on a laptop keeps working)."""

import json
import os
import subprocess
import sys

PAGE = """
import json
import django
django.setup()
from django.test import Client
response = Client().get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
print(json.dumps({
    "hsts": response.headers.get("Strict-Transport-Security"),
    "csrf_secure": bool(response.cookies["csrftoken"]["secure"]),
}))
"""


def sign_in_page(tmp_path, **env):
    environ = {**os.environ, "CHUNGUS_HOME": str(tmp_path), **env}
    environ["DJANGO_SETTINGS_MODULE"] = "chungus.settings"
    done = subprocess.run(
        [sys.executable, "-c", PAGE], env=environ, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_over_tls_cookies_are_secure_and_hsts_is_sent(tmp_path):
    page = sign_in_page(tmp_path, CHUNGUS_TLS="1")
    assert page["csrf_secure"] and page["hsts"] == "max-age=31536000"


def test_without_tls_nothing_insists_on_https(tmp_path):
    page = sign_in_page(tmp_path, CHUNGUS_TLS="0")
    assert not page["csrf_secure"] and page["hsts"] is None
