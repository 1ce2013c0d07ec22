"""Every place that tells a user which key to make names all three scopes.

The README's "Operating", the OpenAPI document and Swagger's key description
said `ingest|read` only, so nobody learnt that configuring alerts needs `admin`.
"""

import re
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from apps.keys.management.commands.create_api_key import Command
from apps.keys.models import Scope

README = Path(__file__).resolve().parents[2] / "README.md"


def test_there_are_three_scopes():
    # The tests below read "every scope" as these three; a fourth must be documented too.
    assert Scope.values == ["ingest", "read", "admin"]


@pytest.mark.django_db
def test_the_api_document_and_its_key_description_name_every_scope():
    document = APIClient().get("/api/schema/", {"format": "json"}).json()
    description = document["info"]["description"]
    key = document["components"]["securitySchemes"]["ApiKey"]["description"]

    for scope in Scope.values:
        assert f"`{scope}` key" in description, scope
        assert f"`{scope}` key" in key, scope


def test_create_api_key_help_lists_every_scope():
    help_text = Command().create_parser("manage.py", "create_api_key").format_help()

    assert "{ingest,read,admin}" in help_text
    assert "configuration and triage" in help_text


def test_the_readme_shows_create_api_key_with_every_scope():
    readme = README.read_text()
    usages = re.findall(r"create_api_key NAME --scope (\S+?)`", readme)

    assert usages, "README no longer documents create_api_key NAME --scope ..."
    for usage in usages:
        assert set(usage.split("|")) == set(Scope.values), usage
