"""Small helpers the apps' views share."""

from collections.abc import Callable

from django.db.models import Model, QuerySet
from django.http import Http404
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

MAX_ID = 2**63 - 1  # bigint: a larger id can name no row (and the database would refuse it)


def validated(serializer_class: type[serializers.Serializer], data, **kwargs) -> dict:
    """The validated data, or the 400 naming each bad field (raised)."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def get_or_404(queryset: QuerySet, pk: int) -> Model:
    """The row with this id, or a JSON 404 (also for ids beyond bigint)."""
    if pk > MAX_ID:
        raise Http404
    try:
        return queryset.get(pk=pk)
    except queryset.model.DoesNotExist:
        raise Http404 from None


def selector_view(
    select: Callable[..., object],
    *,
    query: type[serializers.Serializer],
    answer: type[serializers.Serializer],
    summary: str,
    tags: list[str],
    many: bool = False,
) -> type[APIView]:
    """A read view that is nothing but a selector: the query string validated by `query`
    (a 400 naming each bad parameter), the selector's result answered through `answer`."""

    @extend_schema(
        summary=summary, parameters=[query], responses={200: answer(many=many)}, tags=tags
    )
    def get(self, request):
        found = select(**validated(query, request.query_params))
        return Response(answer(found, many=many).data)

    name = "".join(part.title() for part in select.__name__.split("_")) + "View"
    return type(name, (APIView,), {"get": get, "__doc__": summary})


def selector_urls(reads: list[tuple], *, tags: list[str], name_prefix: str) -> list:
    """URL patterns for a table of selector-only reads: (route, selector, query, answer,
    whether a list, summary) each, as selector_view() serves them."""
    return [
        path(
            route,
            selector_view(
                select, query=query, answer=answer, summary=summary, tags=tags, many=many
            ).as_view(),
            name=f"{name_prefix}-{route.replace('/', '-')}",
        )
        for route, select, query, answer, many, summary in reads
    ]
