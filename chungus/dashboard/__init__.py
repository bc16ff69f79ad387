"""The web pages: home, operator dashboard, playground, sign-in and own keys (an entry point)."""
