"""The durable event log: sequence-numbered events, content deltas coalesced per flush."""

from __future__ import annotations

from typing import Any

from executions.models import ExecutionEvent

Event = dict[str, Any]  # {"seq": n, "type": ..., **fields}
TERMINAL_TYPES = frozenset({"done", "error"})


def coalesce(events: list[Event], execution_id: str) -> list[ExecutionEvent]:
    """Rows for a batch of events: a run of consecutive content deltas becomes one row."""
    rows: list[ExecutionEvent] = []
    for event in events:
        fields = {k: v for k, v in event.items() if k not in ("seq", "type")}
        last = rows[-1] if rows else None
        if (
            event["type"] == "content"
            and last is not None
            and last.type == "content"
            and last.last_seq + 1 == event["seq"]
        ):
            last.data["chunks"].append(fields["content"])
            last.last_seq = event["seq"]
            continue
        data = {"chunks": [fields["content"]]} if event["type"] == "content" else fields
        rows.append(
            ExecutionEvent(execution_id=execution_id, seq=event["seq"], last_seq=event["seq"],
                           type=event["type"], data=data)
        )
    return rows


def append(execution_id: str, events: list[Event]) -> None:
    append_many({execution_id: events})


def append_many(batches: dict[str, list[Event]]) -> None:
    """Several executions' events in one INSERT (per batch of rows the database allows)."""
    rows = [row for execution_id, events in batches.items() if events
            for row in coalesce(events, execution_id)]
    if rows:
        ExecutionEvent.objects.bulk_create(rows)


def expand(row: ExecutionEvent) -> list[Event]:
    if row.type == "content":
        return [
            {"seq": row.seq + i, "type": "content", "content": chunk}
            for i, chunk in enumerate(row.data.get("chunks", []))
        ]
    return [{"seq": row.seq, "type": row.type, **row.data}]


def read(execution_id: str, after: int = 0) -> list[Event]:
    """Every logged event with seq > after, in order."""
    rows = ExecutionEvent.objects.filter(execution_id=execution_id, last_seq__gt=after).order_by(
        "seq"
    )
    return [event for row in rows for event in expand(row) if event["seq"] > after]
