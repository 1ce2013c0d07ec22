import pytest
from django.contrib.auth.models import Permission


@pytest.fixture
def triager(client, django_user_model):
    """A staff session that may view and triage issues and view their errors."""
    user = django_user_model.objects.create_user(username="oncall", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_issue", "change_issue", "view_errorlog"])
    )
    client.force_login(user)
    return client
