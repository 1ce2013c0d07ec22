"""Secrets planted in the alerting through its API and its admin never rest in clear.

An attacker planted secrets in every field a client or a staff user writes and found
them in clear in the channel table and the configuration trail: a channel's signing
secret, a webhook URL's `?token=`, a Slack hook's secret path, a rule's description
and tags, a silence's comment. Each is planted here as a user would, then every table
of the database is read with raw SQL (tests/at_rest.py): the secret is nowhere in clear.
The channel still works: the webhook reaches a real receiver with the real token.
"""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from apps.alerts import services
from apps.alerts.models import AlertChannel, AlertRule, ConfigChange, Silence
from apps.core.secrets import UndecryptableSecret, new_key
from tests.alerts.conftest import CHANNELS, RULES, SILENCES
from tests.alerts.receiver import Receiver
from tests.at_rest import raw_column, tables_holding

pytestmark = pytest.mark.django_db

CHANNEL_SECRET = "whsecPlanted9vK2x7Qa"
WEBHOOK_TOKEN = "hookTokenR4nd0mQz81"
SLACK_PATH_SECRET = "SlackPathS3cretXy7Wq2Lm9N"
RULE_DESCRIPTION_SECRET = "ruleDescK3y77QxPz"
RULE_TAG_SECRET = "ruleTagPw55ZkRt"
RULE_TAG_TOKEN = "ruleTagTok88LmWq"
SILENCE_SECRET = "silencePw31YxQv"
ADMIN_TARGET_TOKEN = "adminHookTok42Rz"
ADMIN_DESCRIPTION_SECRET = "adminDescPw93Kd"
ADMIN_SILENCE_SECRET = "adminSilTok17Mn"


@pytest.fixture
def hook(allow_private_webhooks):
    with Receiver() as receiver:
        yield receiver


def plant_channels(client, hook: Receiver) -> tuple[dict, dict]:
    webhook = client.post(
        CHANNELS,
        {
            "name": "ops-hook",
            "type": "webhook",
            "target": f"{hook.url}hooks/alerts?team=ops&token={WEBHOOK_TOKEN}",
            "secret": CHANNEL_SECRET,
        },
        format="json",
    )
    assert webhook.status_code == 201, webhook.content
    slack = client.post(
        CHANNELS,
        {
            "name": "ops-slack",
            "type": "slack",
            "target": f"{hook.url}services/T0AAA1111/B0BBB2222/{SLACK_PATH_SECRET}",
        },
        format="json",
    )
    assert slack.status_code == 201, slack.content
    return webhook.json(), slack.json()


def test_channel_secrets_planted_through_the_api_rest_nowhere_in_clear(admin_client, hook):
    webhook, slack = plant_channels(admin_client, hook)
    # A change goes through the trail too.
    changed = admin_client.patch(
        f"{CHANNELS}/{webhook['id']}",
        {"target": f"{hook.url}hooks/v2?token={WEBHOOK_TOKEN}", "secret": CHANNEL_SECRET},
        format="json",
    )
    assert changed.status_code == 200, changed.content

    # The scan finds what is stored in clear (the channel's name) ...
    assert {"alerts_alertchannel", "alerts_configchange"} <= set(tables_holding("ops-hook"))
    # ... and none of the secrets.
    for secret in (CHANNEL_SECRET, WEBHOOK_TOKEN, SLACK_PATH_SECRET):
        assert tables_holding(secret) == [], secret
    stored = raw_column("alerts_alertchannel", "target", webhook["id"])
    assert stored.startswith("enc1:") and "hooks" not in stored
    assert raw_column("alerts_alertchannel", "secret", webhook["id"]).startswith("enc1:")
    # The trail says what changed, masked: which host, not the credentials.
    targets = [c.changes["target"] for c in ConfigChange.objects.filter(object_type="channel")]
    assert f"{hook.url}hooks/v2?token=****" in targets
    assert f"{hook.url}services/T0AAA1111/B0BBB2222/****" in targets


def test_a_read_key_sees_channel_targets_masked_and_an_admin_key_in_full(
    admin_client, read_client, hook
):
    webhook, slack = plant_channels(admin_client, hook)

    read = {c["name"]: c["target"] for c in read_client.get(CHANNELS).json()}
    assert read == {
        "ops-hook": f"{hook.url}hooks/alerts?team=****&token=****",
        "ops-slack": f"{hook.url}services/T0AAA1111/B0BBB2222/****",
    }
    one = read_client.get(f"{CHANNELS}/{webhook['id']}").json()
    assert WEBHOOK_TOKEN not in str(one) and CHANNEL_SECRET not in str(one)
    assert one["has_secret"] is True

    full = {c["name"]: c["target"] for c in admin_client.get(CHANNELS).json()}
    assert full["ops-hook"].endswith(f"token={WEBHOOK_TOKEN}")
    assert full["ops-slack"].endswith(SLACK_PATH_SECRET)
    assert webhook["target"].endswith(WEBHOOK_TOKEN)  # the creator's answer: in full
    assert all("secret" not in c for c in admin_client.get(CHANNELS).json())  # write-only


def test_the_webhook_still_reaches_its_receiver_with_the_real_token_and_signature(
    admin_client, hook
):
    webhook, slack = plant_channels(admin_client, hook)

    for channel in (webhook, slack):
        answer = admin_client.post(f"{CHANNELS}/{channel['id']}/test")
        assert answer.status_code == 200 and answer.json()["status"] == "delivered", answer.json()

    first, second = hook.requests
    assert first.path == f"/hooks/alerts?team=ops&token={WEBHOOK_TOKEN}"
    assert first.verify_signature(CHANNEL_SECRET)
    assert second.path == f"/services/T0AAA1111/B0BBB2222/{SLACK_PATH_SECRET}"


def test_rule_description_tags_and_silence_comment_are_scrubbed_before_they_are_stored(
    admin_client, read_client
):
    rule = admin_client.post(
        RULES,
        {
            "name": "api errors",
            "description": f"runbook: https://wiki.example/run?api_key={RULE_DESCRIPTION_SECRET}",
            "metric_name": "api.errors",
            "tags": {"dsn": f"postgres://app:{RULE_TAG_SECRET}@db/x", "api_token": RULE_TAG_TOKEN},
            "condition_operator": "gt",
            "threshold": 5,
        },
        format="json",
    )
    assert rule.status_code == 201, rule.content
    silence = admin_client.post(
        SILENCES,
        {
            "matchers": {"rule_name": "api errors"},
            "ends_at": (timezone.now() + timedelta(hours=1)).isoformat(),
            "comment": f"deploy window, db password={SILENCE_SECRET}",
        },
        format="json",
    )
    assert silence.status_code == 201, silence.content

    for secret in (RULE_DESCRIPTION_SECRET, RULE_TAG_SECRET, RULE_TAG_TOKEN, SILENCE_SECRET):
        assert tables_holding(secret) == [], secret
    stored = AlertRule.objects.get()
    assert stored.description == "runbook: https://wiki.example/run?api_key=[redacted]"
    assert stored.tags == {"dsn": "postgres://app:[redacted]@db/x", "api_token": "[redacted]"}
    assert Silence.objects.get().comment == "deploy window, db password=[redacted]"
    assert read_client.get(RULES).json()[0]["description"] == stored.description


@pytest.fixture
def oncall(django_user_model) -> Client:
    user = django_user_model.objects.create_user(
        username="oncall", password="pw-oncall-123", is_staff=True
    )
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="alerts"))
    client = Client()
    client.force_login(user)
    return client


def test_secrets_typed_in_the_admin_rest_nowhere_in_clear_and_lists_mask_them(oncall, hook):
    target = f"{hook.url}hooks/alerts?token={ADMIN_TARGET_TOKEN}"
    add = {"name": "pager", "type": "webhook", "target": target, "secret": CHANNEL_SECRET}
    assert oncall.post("/admin/alerts/alertchannel/add/", add).status_code == 302
    rule = {
        "name": "disk full",
        "description": f"ssh root@db, password: {ADMIN_DESCRIPTION_SECRET}",
        "metric_name": "disk.used",
        "tags": '{"host": "db"}',
        "aggregation": "avg",
        "condition_operator": "gt",
        "threshold": "90",
        "severity": "warning",
        "duration_seconds": "0",
        "window_seconds": "300",
        "repeat_interval_seconds": "3600",
        "no_data": "keep_state",
        "enabled": "on",
    }
    response = oncall.post("/admin/alerts/alertrule/add/", rule)
    assert response.status_code == 302, response.content.decode()[-2000:]
    now = timezone.now()
    silence = {
        "matchers": '{"severity": "info"}',
        "starts_at_0": now.strftime("%Y-%m-%d"),
        "starts_at_1": now.strftime("%H:%M:%S"),
        "ends_at_0": (now + timedelta(hours=2)).strftime("%Y-%m-%d"),
        "ends_at_1": (now + timedelta(hours=2)).strftime("%H:%M:%S"),
        "comment": f"token={ADMIN_SILENCE_SECRET}",
    }
    assert oncall.post("/admin/alerts/silence/add/", silence).status_code == 302

    for secret in (ADMIN_TARGET_TOKEN, CHANNEL_SECRET, ADMIN_DESCRIPTION_SECRET):
        assert tables_holding(secret) == [], secret
    assert tables_holding(ADMIN_SILENCE_SECRET) == []
    assert AlertChannel.objects.get().target == target  # clear in Python, for the senders

    listing = oncall.get("/admin/alerts/alertchannel/").content.decode()
    assert f"{hook.url}hooks/alerts?token=****" in listing
    assert ADMIN_TARGET_TOKEN not in listing
    assert ADMIN_TARGET_TOKEN not in oncall.get("/admin/alerts/configchange/").content.decode()


def test_a_staff_user_who_may_only_view_channels_sees_the_target_masked(django_user_model, hook):
    channel = services.channel_create(
        data={"name": "pager", "type": "webhook", "target": f"{hook.url}h?token={WEBHOOK_TOKEN}"},
        actor="key:setup",
    )
    viewer = django_user_model.objects.create_user(
        username="v", password="pw-v-123456", is_staff=True
    )
    viewer.user_permissions.set(Permission.objects.filter(codename="view_alertchannel"))
    client = Client()
    client.force_login(viewer)

    page = client.get(f"/admin/alerts/alertchannel/{channel.pk}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    assert f"{hook.url}h?token=****" in html and WEBHOOK_TOKEN not in html


# --- keys ------------------------------------------------------------------------------


def test_rows_encrypted_with_an_old_key_read_after_rotation_and_after_it_is_removed(settings, hook):
    old, new = new_key(), new_key()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    target = f"{hook.url}hooks?token={WEBHOOK_TOKEN}"
    channel = services.channel_create(
        data={"name": "pager", "type": "webhook", "target": target, "secret": CHANNEL_SECRET},
        actor="key:setup",
    )
    before = raw_column("alerts_alertchannel", "target", channel.pk)

    settings.FIELD_ENCRYPTION_KEYS = [new, old]  # 1. the new key first, the old one kept
    assert AlertChannel.objects.get(pk=channel.pk).target == target
    call_command("reencrypt_secrets", verbosity=0)  # 2. every row under the new key
    after = raw_column("alerts_alertchannel", "target", channel.pk)
    assert after != before and after.startswith("enc1:")

    settings.FIELD_ENCRYPTION_KEYS = [new]  # 3. the old key removed
    stored = AlertChannel.objects.get(pk=channel.pk)
    assert (stored.target, stored.secret) == (target, CHANNEL_SECRET)

    # Nothing is left that only the old key reads: without the new one, nothing reads.
    settings.FIELD_ENCRYPTION_KEYS = [old]
    with pytest.raises(UndecryptableSecret):
        AlertChannel.objects.get(pk=channel.pk)


def test_a_key_that_is_not_a_fernet_key_is_refused_at_start_up(settings):
    env = {**os.environ, "DEBUG": "true", "FIELD_ENCRYPTION_KEYS": f"{new_key()},not-a-key"}
    run = subprocess.run(
        [sys.executable, "manage.py", "check"],
        capture_output=True,
        text=True,
        env=env,
        cwd=settings.BASE_DIR,
        timeout=60,
    )
    assert run.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS: key 2 is not a Fernet key" in run.stderr
