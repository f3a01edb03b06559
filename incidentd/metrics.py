"""Every Prometheus metric incidentd exports, defined once. Labels come from closed sets only:
`source` is a registered source name or "unknown", `reason` an error reason, never free text.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

WEBHOOKS = Counter(
    "incidentd_webhooks_total",
    "Webhook requests answered, by source and outcome (accepted or the rejection reason).",
    ["source", "outcome"],
)
ALERTS_RECEIVED = Counter(
    "incidentd_alerts_received_total",
    "Alerts parsed from accepted or overloaded webhook bodies.",
    ["source"],
)
ALERTS_ACCEPTED = Counter(
    "incidentd_alerts_accepted_total",
    "Alerts appended to the durable queue (answered 202).",
    ["source"],
)
ALERTS_REJECTED = Counter(
    "incidentd_alerts_rejected_total",
    "Alerts parsed but not queued, by reason (the sender was told to retry).",
    ["source", "reason"],
)
WEBHOOK_SECONDS = Histogram(
    "incidentd_webhook_duration_seconds",
    "Time from request to answer for webhooks, by source.",
    ["source"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
QUEUE_DEPTH = Gauge(
    "incidentd_queue_depth",
    "Queue entries (webhooks) appended and not yet acknowledged by the engine.",
)
QUEUE_DEAD_LETTERED = Counter(
    "incidentd_queue_dead_lettered_total",
    "Queue entries that could not be decoded or parsed, set aside (Redis: dead-letter stream).",
)
HTTP_INTERNAL_ERRORS = Counter(
    "incidentd_http_internal_errors_total",
    "Requests answered 500 (an unexpected exception, logged with its traceback): a bug.",
)
CONFIG_RELOADS = Counter(
    "incidentd_config_reloads_total",
    "Configuration reload attempts, by outcome (ok, invalid).",
    ["outcome"],
)
CONFIG_INFO = Gauge(
    "incidentd_config_loaded_timestamp_seconds",
    "When the running configuration was loaded.",
)
ENGINE_ALERTS = Counter(
    "incidentd_engine_alerts_total",
    "Alerts run through the correlation engine.",
)
ENGINE_DECISIONS = Counter(
    "incidentd_engine_decisions_total",
    "Engine decisions, by kind (alert.new, alert.duplicate, group.opened, ...).",
    ["kind"],
)
ENGINE_BATCH_SECONDS = Histogram(
    "incidentd_engine_batch_duration_seconds",
    "Time to process and commit one queue batch.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
ENGINE_FAILURES = Counter(
    "incidentd_engine_failures_total",
    "Engine rounds that failed unexpectedly (the state is reloaded and the batch retried).",
)
ENGINE_LEADER = Gauge(
    "incidentd_engine_leader",
    "1 while this process runs the engine (holds the lease), else 0.",
)
RECORD_DROPPED = Counter(
    "incidentd_record_dropped_total",
    "Webhooks not recorded for replay (buffer full or file not writable).",
)

SLA_BREACHES = Counter(
    "incidentd_sla_breaches_total",
    "Incident SLA clocks that ran out, by clock (declare, acknowledge, resolve) and priority.",
    ["clock", "priority"],
)
ACTIONS = Counter(
    "incidentd_actions_total",
    "Outbox attempts by target and outcome (sent, retry, dead).",
    ["target", "outcome"],
)
ACTIONS_DEAD_LETTERED = Counter(
    "incidentd_actions_dead_lettered_total",
    "Actions given up (attempts, age or a permanent failure): they wait for a person.",
    ["target"],
)
ACTION_SECONDS = Histogram(
    "incidentd_action_duration_seconds",
    "Time of one attempt at a target (every step of it).",
    ["target"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
ACTION_LAG_SECONDS = Histogram(
    "incidentd_action_lag_seconds",
    "Time from the decision (the engine's commit) to the first attempt at a target.",
    ["target"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0),
)
OUTBOX_DUE = Gauge("incidentd_outbox_due", "Outbox actions at the head of their chain, waiting.")
OUTBOX_DEAD = Gauge("incidentd_outbox_dead", "Outbox actions dead-lettered and not yet retried.")
OUTBOX_FAILURES = Counter(
    "incidentd_outbox_failures_total",
    "Unexpected errors in the outbox workers (the action is tried again when its claim ends).",
)
AM_SYNC = Counter(
    "incidentd_alertmanager_api_syncs_total",
    "Rounds of asking an Alertmanager's API which alerts are still active, by outcome (ok,"
    " peer_failed, restart_grace, not_leader, queue_unavailable, error).",
    ["outcome"],
)
AM_SYNC_RESOLVED = Counter(
    "incidentd_alertmanager_api_resolved_total",
    "Alerts closed because no peer of their Alertmanager listed them as active any more.",
)
