"""Alerting's own figures on /metrics, so Prometheus can alert on the alerter."""

from prometheus_client.core import GaugeMetricFamily

from .models import UNRESOLVED, DeliveryStatus, RuleState, Severity
from .selectors import alerting_figures


class AlertingCollector:
    def collect(self):
        figures = alerting_figures()
        incidents = GaugeMetricFamily(
            "analytics_alert_incidents",
            "Unresolved incidents, by status and severity",
            labels=["status", "severity"],
        )
        for status in UNRESOLVED:
            for severity in Severity.values:
                incidents.add_metric(
                    [status, severity], figures["incidents"].get((status, severity), 0)
                )
        yield incidents
        rules = GaugeMetricFamily(
            "analytics_alert_rules", "Enabled alert rules, by state", labels=["state"]
        )
        for state in RuleState.values:
            rules.add_metric([state], figures["rules"].get(state, 0))
        yield rules
        deliveries = GaugeMetricFamily(
            "analytics_alert_deliveries",
            "Notifications still to send (pending), in a worker's hands (sending) or given up "
            "(failed)",
            labels=["status"],
        )
        for status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED):
            deliveries.add_metric([status.value], figures["deliveries"].get(status, 0))
        yield deliveries
