"""Sign-in, sign-out and a user's own keys, under /accounts/."""

from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, path

from chungus.dashboard import own_keys
from chungus.dashboard.signin import SignInView, throttle_logins

urlpatterns: list[URLPattern | URLResolver] = [
    path("login/", throttle_logins(SignInView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("keys/", own_keys.keys, name="own-keys"),
    path("keys/<int:key_id>/revoke/", own_keys.revoke, name="own-key-revoke"),
    path("keys/playground/", own_keys.playground_key, name="playground-key"),
]
