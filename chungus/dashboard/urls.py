"""The home page, the operator dashboard and its live tables, the playground."""

from django.urls import URLPattern, URLResolver, path

from chungus.dashboard import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    path("partials/models/", views.home_models, name="home-models"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/partials/backends/", views.backends, name="dashboard-backends"),
    path(
        "dashboard/partials/deployments/",
        views.deployments_table,
        name="dashboard-deployments",
    ),
    path("playground/", views.playground, name="playground"),
]
