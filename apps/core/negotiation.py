"""Content negotiation of every API view: an unknown `?format=` is a 400 naming it."""

from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.settings import api_settings


class FormatParameterNegotiation(DefaultContentNegotiation):
    """DRF answers a format no renderer has with a 404, which suits a URL suffix
    (`/report.xml` names no resource) but not `?format=xml`, a bad parameter of an
    endpoint that exists: a 400 naming `format` and the formats there are. `?format=`
    (empty) too, as every empty parameter here (DRF would read it as absent). This
    project uses no format suffixes. The project's default (REST_FRAMEWORK
    DEFAULT_CONTENT_NEGOTIATION_CLASS), so every endpoint answers alike."""

    def select_renderer(self, request, renderers, format_suffix=None):
        param = api_settings.URL_FORMAT_OVERRIDE  # DRF's setting ("format"), not Django's
        if not format_suffix and param and request.query_params.get(param) == "":
            self._refuse(renderers)
        return super().select_renderer(request, renderers, format_suffix)

    def filter_renderers(self, renderers, format):
        matching = [renderer for renderer in renderers if renderer.format == format]
        if not matching:
            self._refuse(renderers)
        return matching

    @staticmethod
    def _refuse(renderers) -> None:
        formats = ", ".join(renderer.format for renderer in renderers)
        raise ValidationError({"format": [f"One of: {formats}."]})
