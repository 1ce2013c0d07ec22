from pydantic import Field

from apps.ingest.fields import ItemSchema, PositiveInt, Secretless, Text

from .models import ActivityType


class UserActivityIn(ItemSchema):
    activity_type: ActivityType
    user_id: Text(255) = ""
    page_url: Text(2000) = ""
    element_id: Text(255) = ""
    search_query: Text(1000) = ""
    session_id: Text(255) = ""
    duration_ms: PositiveInt | None = None
    extra_data: Secretless = Field(default_factory=dict)


def enrich_user_activity(row: dict, request) -> None:
    """A signed-in frontend user is the activity's user, whatever the body claims."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        row["user_id"] = str(user.pk)
