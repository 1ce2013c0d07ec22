from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors
from .serializers import OverviewOut


class OverviewView(APIView):
    @extend_schema(
        summary="Overview for a dashboard: this machine's figures, AI usage, product usage",
        responses={200: OverviewOut},
        tags=["overview"],
    )
    def get(self, request):
        return Response(OverviewOut(selectors.overview()).data)
