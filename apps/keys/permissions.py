"""Access rules, in one place: which credential may call which endpoint."""

from rest_framework import permissions

from .models import APIKey, Scope


def _key_scope(request) -> str | None:
    return request.auth.scope if isinstance(request.auth, APIKey) else None


def request_actor(request) -> str:
    """Who is calling, as recorded on what they change: `key:<name>` or `user:<username>`.
    Works for API requests and for the admin's plain Django requests alike."""
    if isinstance(getattr(request, "auth", None), APIKey):
        return f"key:{request.auth.name}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.get_username()}"
    return "anonymous"


def may_see_secrets(request, permission: str) -> bool:
    """Whether the caller is shown credentials in full (a channel's webhook token, a
    monitored URL's password, a heartbeat's ping token): an `admin` key, or a staff
    session whose user holds `permission` (the change permission of what holds them).
    A read key, and no request at all, see them masked."""
    if request is None:
        return False
    scope = _key_scope(request)
    if scope is not None:
        return scope == Scope.ADMIN
    user = getattr(request, "user", None)
    return bool(user and user.is_authenticated and user.is_staff and user.has_perm(permission))


class CanRead(permissions.BasePermission):
    """Staff session, a `read` key or an `admin` key. An ingest key is refused (403)."""

    message = "A read key or a staff session is required."

    def has_permission(self, request, view) -> bool:
        scope = _key_scope(request)
        if scope is not None:
            return scope in (Scope.READ, Scope.ADMIN)
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


class CanIngestWithKey(permissions.BasePermission):
    """An `ingest` key only: for writes outside what a session may send (a session may
    write user activity, errors and events, as the kind registry's `session_writable`
    says; anything else, such as knowledge documents, needs a key)."""

    message = (
        "An ingest key is required: a signed-in session may write user activity, errors "
        "and events only."
    )

    def has_permission(self, request, view) -> bool:
        return _key_scope(request) == Scope.INGEST


class CanAdminister(permissions.BasePermission):
    """Reads as CanRead; changes need an `admin` key, or a staff session whose user holds
    the view's `change_permission` (e.g. "alerts.change_alertrule"; for DELETE the
    matching delete permission)."""

    message = "An admin key, or a staff session with the permission to change this, is required."

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return CanRead().has_permission(request, view)
        scope = _key_scope(request)
        if scope is not None:
            return scope == Scope.ADMIN
        permission = view.change_permission
        if request.method == "DELETE":  # e.g. alerts.delete_alertrule
            permission = permission.replace(".change_", ".delete_", 1)
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff and user.has_perm(permission))
