"""The test project's routes."""

from django.urls import path

from tests.hosting.apps.django_site import views

urlpatterns = [
    path("", views.home),
    path("sync/<int:n>/", views.sync_view),
    path("async/", views.async_view),
    path("echo/", views.echo),
    path("form/", views.form),
    path("cookie/", views.cookie),
    path("stream/", views.stream),
    path("go/", views.go),
    path("meta/", views.meta),
    path("crash/", views.crash),
]
