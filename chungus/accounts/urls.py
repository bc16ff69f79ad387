"""Sign-in, sign-out and a user's own keys."""

from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, path

from chungus.accounts import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("keys/", views.keys, name="own-keys"),
    path("keys/<int:key_id>/revoke/", views.revoke, name="own-key-revoke"),
    path("keys/playground/", views.playground_key, name="playground-key"),
]
