from django.contrib import admin
from django.urls import path

from chungus.core import views

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
]

handler404 = "chungus.core.views.not_found"
handler500 = "chungus.core.views.server_error"
