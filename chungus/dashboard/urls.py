from django.urls import path

from chungus.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
]
