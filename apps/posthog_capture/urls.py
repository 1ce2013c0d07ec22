"""Mounted at the root (the SDKs append these paths to their `host`); with or without the
trailing slash, as SDK versions differ, and never redirected (a redirect loses a POST)."""

from django.urls import re_path

from .api import CaptureView, FlagsView, RemoteConfigView

urlpatterns = [
    re_path(r"^(?:capture|batch|e|i/v0/e)/?$", CaptureView.as_view(), name="posthog-capture"),
    re_path(r"^(?:decide|flags)/?$", FlagsView.as_view(), name="posthog-flags"),
    re_path(
        r"^array/(?P<token>[^/]+)/config(?P<script>\.js)?/?$",
        RemoteConfigView.as_view(),
        name="posthog-remote-config",
    ),
]
