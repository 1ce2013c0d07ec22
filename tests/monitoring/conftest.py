import pytest
from django.contrib.auth.models import Permission
from django.test import Client


@pytest.fixture
def oncall(staff_user) -> Client:
    """A staff session that may view, add, change and delete monitored services."""
    staff_user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="monitoring", codename__endswith="monitoredservice"
        )
    )
    client = Client()
    client.force_login(staff_user)
    return client
