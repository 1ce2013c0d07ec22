"""Guards every request passes before a view runs."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from .errors import error_body

_NUL = "\x00"
_NUL_MESSAGE = "Null characters are not allowed."


class RejectNulMiddleware:
    """A NUL in a query parameter or a URL segment is a 400 naming the parameter.

    PostgreSQL text cannot hold NUL, so such a value would otherwise reach the
    database and fail there (a 500) in whatever view reads it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs) -> HttpResponse | None:
        fields: dict[str, list[str]] = {}
        for name, values in request.GET.lists():
            if _NUL in name or any(_NUL in value for value in values):
                fields[name.replace(_NUL, "\ufffd")] = [_NUL_MESSAGE]
        for name, value in view_kwargs.items():
            if isinstance(value, str) and _NUL in value:
                fields[name] = [_NUL_MESSAGE]
        if any(_NUL in str(arg) for arg in view_args):
            fields["path"] = [_NUL_MESSAGE]
        if not fields:
            return None
        return JsonResponse(error_body(400, "Invalid input.", fields), status=400)
