"""The figures of each tracked period, as event reads: which events count, and how.
Event types come from configuration (selectors.event_types), never from code."""

from apps.events.selectors import Figure


def user_figures(types: dict[str, tuple[str, ...]]) -> list[Figure]:
    return [
        Figure("events", None),
        Figure("contracts_created", types["contract_created"]),
        Figure("contracts_completed", types["contract_completed"]),
        Figure("contracts_cancelled", types["contract_cancelled"]),
        Figure("credits_purchased", types["credits_purchased"], "sum", "amount"),
        Figure("credits_spent", types["credits_spent"], "sum", "amount"),
        Figure("total_spent", types["contract_completed"], "sum", "amount"),
        Figure("agents_used", None, "distinct", "agent_id"),
        Figure("orchestrations_run", types["orchestration_run"]),
    ]


def agent_figures(types: dict[str, tuple[str, ...]]) -> list[Figure]:
    called = types["agent_called"]
    return [
        Figure("total_calls", called),
        Figure("failed_calls", called, "false", "success"),
        Figure("p50_response_time_ms", called, "p50", "response_time_ms"),
        Figure("p95_response_time_ms", called, "p95", "response_time_ms"),
        Figure("p99_response_time_ms", called, "p99", "response_time_ms"),
        Figure("bids_placed", types["bid_placed"]),
        Figure("avg_bid_price", types["bid_placed"], "avg", "amount"),
        Figure("contracts_won", types["contract_won"]),
        Figure("contracts_completed", types["contract_completed"]),
        Figure("contracts_failed", types["contract_failed"]),
        Figure("revenue", types["contract_completed"], "sum", "amount"),
        Figure("validation_score", types["validation_scored"], "avg", "score"),
        Figure("reputation_score", types["reputation_scored"], "avg", "score"),
    ]


def platform_period_figures(types: dict[str, tuple[str, ...]]) -> list[Figure]:
    return [
        Figure("completed_contracts", types["contract_completed"]),
        Figure("failed_contracts", types["contract_failed"]),
        Figure("revenue", types["contract_completed"], "sum", "amount"),
        Figure("platform_fees", types["contract_completed"], "sum", "platform_fee"),
        Figure("credits_purchased", types["credits_purchased"], "sum", "amount"),
        Figure("credits_spent", types["credits_spent"], "sum", "amount"),
        Figure("orchestrations", types["orchestration_run"]),
        Figure("fraud_alerts", types["fraud_alert"]),
        Figure("security_events", types["security_event"]),
    ]


def contract_totals(types: dict[str, tuple[str, ...]]) -> list[Figure]:
    """Over everything before the period's end: contracts opened, and closed any way."""
    closed = (*types["contract_completed"], *types["contract_cancelled"], *types["contract_failed"])
    return [Figure("created", types["contract_created"]), Figure("closed", closed)]


def dashboard_window_figures(types: dict[str, tuple[str, ...]]) -> list[Figure]:
    completed = types["contract_completed"]
    return [
        Figure("completed", completed),
        Figure("revenue", completed, "sum", "amount"),
        Figure("platform_fees", completed, "sum", "platform_fee"),
    ]


def rollup_figures(types: dict[str, tuple[str, ...]]) -> list[Figure]:
    """What a rollup chunk keeps of the events: the dashboard's window figures and the
    contracts opened and closed (added up over every chunk: the all-time totals)."""
    return [*dashboard_window_figures(types), *contract_totals(types)]


def agents_seen() -> list[Figure]:
    """Any event naming an agent (metadata `agent_id`): the agents a period has seen."""
    return [Figure("events", None)]
