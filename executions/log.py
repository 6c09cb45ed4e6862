"""The durable event log: sequence-numbered events, content deltas coalesced per flush."""

from __future__ import annotations

import json
from typing import Any

from django.db import connections, router
from django.utils import timezone

from executions.models import ExecutionEvent

Event = dict[str, Any]  # {"seq": n, "type": ..., **fields}
TERMINAL_TYPES = frozenset({"done", "error"})


def coalesce(events: list[Event]) -> list[tuple[int, int, str, dict[str, Any]]]:
    """Rows (seq, last_seq, type, data) for a batch of events: a run of consecutive content
    deltas becomes one row."""
    rows: list[tuple[int, int, str, dict[str, Any]]] = []
    for event in events:
        last = rows[-1] if rows else None
        if (event["type"] == "content" and last is not None and last[2] == "content"
                and last[1] + 1 == event["seq"]):
            last[3]["chunks"].append(event["content"])
            rows[-1] = (last[0], event["seq"], "content", last[3])
            continue
        data = ({"chunks": [event["content"]]} if event["type"] == "content"
                else {k: v for k, v in event.items() if k not in ("seq", "type")})
        rows.append((event["seq"], event["seq"], event["type"], data))
    return rows


def append(execution_id: str, events: list[Event]) -> None:
    append_many({execution_id: events})


_COLUMNS = ("execution", "seq", "last_seq", "type", "data", "created_at")


def append_many(batches: dict[str, list[Event]]) -> None:
    """Several executions' events in one statement.

    Plain SQL because this runs for every run at every flush: the ORM's bulk_create built
    a model instance per row and compiled the INSERT per batch (bench/RESULTS.md, sixth
    round). PostgreSQL gets every row in one JSON parameter (`jsonb_to_recordset`: one
    round trip, the encoding done by the json module in C); SQLite one INSERT executed per
    row (`executemany`, inside the caller's transaction). Errors are Django's (DataError,
    IntegrityError), as the ORM raised them."""
    rows = [(execution_id, *row) for execution_id, events in batches.items() if events
            for row in coalesce(events)]
    if not rows:
        return
    connection = connections[router.db_for_write(ExecutionEvent)]
    meta = ExecutionEvent._meta
    quote = connection.ops.quote_name
    fields = [meta.get_field(name) for name in _COLUMNS]
    columns = ", ".join(quote(str(field.column)) for field in fields)  # type: ignore[union-attr]
    insert = f"INSERT INTO {quote(meta.db_table)} ({columns}) "
    now = timezone.now()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            records = [{"e": e, "s": s, "l": last, "t": kind, "d": data}
                       for e, s, last, kind, data in rows]
            cursor.execute(insert + _FROM_JSON, [now, json.dumps(records)])
        else:
            data_field, created_field = fields[4], fields[5]
            created = created_field.get_db_prep_save(now, connection)  # type: ignore[union-attr]
            cursor.executemany(insert + "VALUES (%s, %s, %s, %s, %s, %s)", [
                (e, s, last, kind, data_field.get_db_prep_save(data, connection),  # type: ignore[union-attr]
                 created)
                for e, s, last, kind, data in rows])


_FROM_JSON = ("SELECT r.e, r.s, r.l, r.t, r.d, %s::timestamptz FROM jsonb_to_recordset(%s::jsonb) "
              "AS r(e text, s integer, l integer, t text, d jsonb)")


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
