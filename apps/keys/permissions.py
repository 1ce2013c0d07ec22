"""Access rules, in one place: which credential may call which endpoint."""

from rest_framework import permissions

from .models import APIKey, Scope


def _key_scope(request) -> str | None:
    return request.auth.scope if isinstance(request.auth, APIKey) else None


class CanRead(permissions.BasePermission):
    """Staff session or a `read` key. An ingest key is refused (403)."""

    message = "A read key or a staff session is required."

    def has_permission(self, request, view) -> bool:
        scope = _key_scope(request)
        if scope is not None:
            return scope == Scope.READ
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)


class CanIngest(permissions.BasePermission):
    """An `ingest` key, or a signed-in user (a frontend posting with its cookie)."""

    message = "An ingest key is required."

    def has_permission(self, request, view) -> bool:
        scope = _key_scope(request)
        if scope is not None:
            return scope == Scope.INGEST
        user = request.user
        return bool(user and user.is_authenticated)
