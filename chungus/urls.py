"""Django's URLs: pages, accounts, the management API, API docs, the admin."""

from django.contrib import admin
from django.urls import include, path

from chungus.api.docs import api_docs
from chungus.dashboard.signin import throttle_logins

urlpatterns = [
    path("", include("chungus.dashboard.urls")),
    path("accounts/", include("chungus.dashboard.account_urls")),
    path("api/", include("chungus.api.urls")),
    path("api-docs/", api_docs, name="api-docs"),
    # Before the admin's own URLs: its sign-in is throttled like the dashboard's.
    path("admin/login/", throttle_logins(admin.site.login), name="admin-login"),
    path("admin/", admin.site.urls),
]

handler404 = "chungus.core.views.not_found"
handler500 = "chungus.core.views.server_error"
