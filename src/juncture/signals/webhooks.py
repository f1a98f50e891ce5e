"""Adapters from other tools' webhook payloads to juncture signal records.

- Prometheus Alertmanager (webhook_config, payload version 4): each alert becomes a metric point
  `alert.<alertname>` on the service named by the `service` label (else `job`), value 1 while
  firing and 0 once resolved, at `startsAt` / `endsAt`, keyed by the alert fingerprint.
- Generic help-desk webhook: a ticket event in juncture's schema, or one using the field names
  Zendesk, Freshdesk or Zammad triggers can send (see docs/signals.md, "Webhooks").
"""

from __future__ import annotations

from typing import Any

from juncture.kit.errors import Invalid


def alertmanager_records(payload: Any) -> list[dict[str, Any]]:
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise Invalid("not an Alertmanager webhook payload (no 'alerts' list)", code="invalid_body")
    raw_common = payload.get("commonLabels")
    common: dict[str, Any] = raw_common if isinstance(raw_common, dict) else {}
    records: list[dict[str, Any]] = []
    for alert in payload["alerts"]:
        if not isinstance(alert, dict):
            records.append({"_unparsed": repr(alert)[:2000], "_reason": "not_an_object"})
            continue
        own = alert.get("labels")
        labels: dict[str, Any] = {**common, **(own if isinstance(own, dict) else {})}
        status = alert.get("status") or payload.get("status")
        firing = status == "firing"
        ts = alert.get("startsAt") if firing else (alert.get("endsAt") or alert.get("startsAt"))
        name = str(labels.get("alertname", "unnamed")).lower()
        safe = "".join(c if c.isalnum() or c in "_." else "_" for c in name)
        record_labels = {
            k: str(v) for k, v in labels.items() if k in ("region", "severity", "instance", "env")
        }
        fingerprint = alert.get("fingerprint") or f"{name}:{labels.get('instance', '')}"
        records.append(
            {
                "type": "metric",
                "id": f"am:{fingerprint}:{status}:{ts}",
                "ts": ts,
                "service": labels.get("service") or labels.get("job"),
                "metric": f"alert.{safe}",
                "value": 1 if firing else 0,
                "unit": "count",
                "labels": record_labels,
            }
        )
    return records


# Field names other help desks send, mapped to ours. Ours always win when both are present.
HELPDESK_ALIASES = {
    "ticket": "ticket_id",
    "ticket.id": "ticket_id",
    "event": "kind",
    "type_of_event": "kind",
    "requester_id": "customer_id",
    "requester": "customer_id",
    "group": "team",
    "group_id": "team",
    "assignee_id": "agent_id",
    "assignee": "agent_id",
    "via": "channel",
    "source": "channel",
    "subject": "text",
    "description": "text",
    "comment": "text",
    "updated_at": "ts",
    "created_at": "ts",
    "actor": "actor_kind",
}


def helpdesk_records(payload: Any) -> list[dict[str, Any]]:
    items = payload if isinstance(payload, list) else [payload]
    records = []
    for item in items:
        if not isinstance(item, dict):
            records.append({"_unparsed": repr(item)[:2000], "_reason": "not_an_object"})
            continue
        record: dict[str, Any] = {}
        for key, value in item.items():
            target = HELPDESK_ALIASES.get(str(key), str(key))
            if target not in record or key == target:
                record[target] = value
        record["type"] = "ticket"
        record.setdefault("actor_kind", "system")
        records.append(record)
    return records
