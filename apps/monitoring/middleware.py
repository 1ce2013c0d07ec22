"""The health check, answered whatever host the request names."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from .api import SystemHealthView


class HealthProbeMiddleware:
    """Answers `/api/v1/analytics/health` before Django checks the Host header.

    Load balancers and orchestrators probe each web host by its address (an AWS target
    group, a Kubernetes probe: `Host: 10.0.3.7:8000`), which ALLOWED_HOSTS rightly does
    not list, so CommonMiddleware would answer them 400 and take a healthy host out.
    The answer names no host and builds no URL, so serving it for any Host is safe;
    every other path still has its Host checked.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.health = SystemHealthView.as_view()
        self.path = reverse("health")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == self.path:
            response = self.health(request)
            response.render()
            return response
        return self.get_response(request)
