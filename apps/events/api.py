from apps.ingest.api import IngestView, ingest_schema

from .schemas import UserActivityIn


class UserActivityIngestView(IngestView):
    kind = "user_activity"

    @ingest_schema(UserActivityIn, "Log user activity (frontend)")
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)
