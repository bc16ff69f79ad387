"""Signing in: operators land on the dashboard, everyone else on their own keys."""

from __future__ import annotations

from django.contrib.auth.views import LoginView
from django.urls import reverse


class SignInView(LoginView):
    """Django's sign-in form, sending each user where they work."""

    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        return reverse("dashboard" if self.request.user.is_superuser else "own-keys")
