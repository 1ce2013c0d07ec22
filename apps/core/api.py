"""Small helpers the apps' views share."""

from django.db.models import Model, QuerySet
from django.http import Http404
from rest_framework import serializers

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
