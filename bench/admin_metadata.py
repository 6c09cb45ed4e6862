"""The session admin at scale: 1,000,000 sessions on PostgreSQL, timed page by page.

    python -m bench.admin_metadata [--sessions 1000000] [--message-sessions 50000]
                                   [--runs 5] [--keep] [--reuse bench_admin_xxxx]

Creates a fresh database ``bench_admin_<rand>`` on postgres://postgres@127.0.0.1:5432
(``--pg`` to change), migrates it, fills it server-side (``INSERT … SELECT
generate_series``, secondary indexes dropped during the load and rebuilt after), ANALYZEs,
then requests the session changelist with Django's test ``Client`` as a superuser and as
a staff member of one workspace: plain, one metadata filter, two AND-ed metadata filters,
searches (title word, metadata value, message content) and the metadata filter's
key/value lists. Prints a markdown table (p50 / max ms per page, queries per page) and
the EXPLAIN ANALYZE of the slowest query of each case. Drops the database at the end
unless ``--keep``; ``--reuse NAME`` times an existing (kept) database without refilling.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKSPACES = ["Acme Support", "Globex Sales", "Initech Ops", "Umbrella Tiny"]
# Per 100 sessions: workspace 0 gets 55, 1 gets 30, 2 gets 12, 3 gets 3.
WORKSPACE_CUTS = (55, 85, 97)
STAFF_WORKSPACE = 1  # the scoped staff member belongs to "Globex Sales" only
WORDS = ["refund", "delivery", "invoice", "password", "upgrade", "billing", "login",
         "shipping", "cancel", "warranty", "parcel", "discount", "account", "printer",
         "router", "subscription", "café", "naïve", "straße", "東京"]


@dataclass
class Case:
    name: str
    params: list[tuple[str, str]]


@dataclass
class Result:
    user: str
    case: str
    ms: list[float] = field(default_factory=list)
    queries: int = 0
    slowest_sql: str = ""
    slowest_ms: float = 0.0
    rows: int = 0


def _meta(*pairs: tuple[str, Any]) -> list[tuple[str, str]]:
    from chat.admin_filters import encode_condition

    return [("meta", encode_condition(k, v)) for k, v in pairs]


SLOW_MS = 10_000


def cases() -> list[Case]:
    return [
        Case("plain", []),
        Case("meta channel=web", _meta(("channel", "web"))),
        Case("meta channel=web AND experiment=exp-b",
             _meta(("channel", "web"), ("experiment", "exp-b"))),
        Case("meta channel=web AND user_id=ext-7",
             _meta(("channel", "web"), ("user_id", "ext-7"))),
        Case("search title word (q=warranty)", [("q", "warranty")]),
        Case("search metadata value (q=ext-7)", [("q", "ext-7")]),
        Case("search message content (q=router)", [("q", "router")]),
        Case("search, no match (q=zyzzyva)", [("q", "zyzzyva")]),
        Case("values of channel (meta_key=channel)", [("meta_key", "channel")]),
        Case("values of user_id, channel=web", [("meta_key", "user_id"),
                                                *_meta(("channel", "web"))]),
        Case("sort by tokens (o=7)", [("o", "7")]),
    ]


# --- database -------------------------------------------------------------------------------

def _admin_conn(pg: str) -> Any:
    import psycopg

    return psycopg.connect(f"{pg}/postgres", autocommit=True)


def create_database(pg: str, name: str) -> None:
    with _admin_conn(pg) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(pg: str, name: str) -> None:
    with _admin_conn(pg) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptrails.settings")
    os.environ.setdefault("DEBUG", "1")
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    os.chdir(ROOT)
    import django

    django.setup()


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fill(n_sessions: int, n_message_sessions: int) -> dict[str, Any]:
    """Workspaces, agents, users, sessions, messages, executions and feedback (bulk SQL)."""
    from django.contrib.auth.models import Permission, User
    from django.db import connection

    from agents.models import Agent
    from promptrails.models import Membership, Workspace

    workspaces = [Workspace.objects.create(name=name) for name in WORKSPACES]
    agents = [Agent.objects.create(workspace=ws, name=f"{ws.name} {suffix}")
              for ws in workspaces for suffix in ("assistant", "triage")]
    User.objects.create_superuser("bench-admin", "admin@example.com", "pw-123456")
    staff = User.objects.create_user("bench-staff", password="pw-123456", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(
        content_type__app_label="chat", codename__in=["view_session", "change_session"]))
    Membership.objects.create(user=staff, workspace=workspaces[STAFF_WORKSPACE])

    ws_ids = [ws.pk for ws in workspaces]
    agent_ids = [a.pk for a in agents]
    every = max(1, n_sessions // max(1, n_message_sessions))
    with connection.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '1GB'")
        cur.execute("SELECT setseed(0.42)")
        # Secondary indexes off during the load, rebuilt afterwards (much faster).
        cur.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i "
            "JOIN pg_class c ON c.relname = i.indexname JOIN pg_index x ON x.indexrelid = c.oid "
            "WHERE i.tablename IN ('chat_session', 'chat_message') AND NOT x.indisprimary "
            "AND NOT x.indisunique"
        )
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')

        t0 = time.monotonic()
        cur.execute(
            """
            INSERT INTO chat_session (id, workspace_id, agent_id, user_id, title, metadata,
                                      created_at, updated_at)
            SELECT 'S' || lpad(i::text, 26, '0'),
                   (%(ws)s::text[])[w + 1],
                   (%(agents)s::text[])[w * 2 + CASE WHEN i %% 7 = 0 THEN 2 ELSE 1 END],
                   CASE WHEN i %% 4 = 0 THEN 'user' || (i %% 5000)::text END,
                   CASE WHEN i %% 13 = 0 THEN ''
                        ELSE initcap((%(words)s::text[])[1 + (i * 31) %% 20]) || ' question '
                             || (%(words)s::text[])[1 + (i * 17) %% 20] || ' #' || i END,
                   jsonb_build_object(
                       'channel', CASE WHEN h < 45 THEN 'web' WHEN h < 75 THEN 'app'
                                       WHEN h < 90 THEN 'email' WHEN h < 95 THEN 'sms'
                                       ELSE 'whatsapp' END,
                       'user_id', 'ext-' || floor(exp(random() * ln(200000)))::int
                   )
                   || CASE WHEN i %% 5 = 0 THEN jsonb_build_object(
                          'experiment', CASE WHEN i %% 2 = 0 THEN 'exp-a' ELSE 'exp-b' END)
                      ELSE '{}'::jsonb END
                   || CASE WHEN i %% 3 = 0 THEN jsonb_build_object(
                          'locale',
                          (ARRAY['fr-FR', 'de-DE', 'ja-JP', 'en-GB', 'es-ES'])[1 + i %% 5],
                          'région',
                          (ARRAY['Île-de-France', 'Bayern', '東京都', 'Cataluña'])[1 + i %% 4])
                      ELSE '{}'::jsonb END
                   || CASE WHEN i %% 11 = 0 THEN jsonb_build_object(
                          'plan', (ARRAY['free', 'pro', 'enterprise'])[1 + i %% 3],
                          'seats', i %% 50, 'beta', i %% 2 = 0)
                      ELSE '{}'::jsonb END,
                   ts, ts + (random() * interval '2 hours')
            FROM (
                SELECT i,
                       CASE WHEN i %% 100 < %(c0)s THEN 0 WHEN i %% 100 < %(c1)s THEN 1
                            WHEN i %% 100 < %(c2)s THEN 2 ELSE 3 END AS w,
                       (i * 7919) %% 100 AS h,
                       now() - ((%(n)s - i) * interval '5 seconds') AS ts
                FROM generate_series(0::bigint, %(n)s - 1) AS i
            ) AS g
            """,
            {"ws": ws_ids, "agents": agent_ids, "words": WORDS, "n": n_sessions,
             "c0": WORKSPACE_CUTS[0], "c1": WORKSPACE_CUTS[1], "c2": WORKSPACE_CUTS[2]},
        )
        _say(f"{n_sessions} sessions in {time.monotonic() - t0:.1f}s")

        t0 = time.monotonic()
        cur.execute(
            """
            INSERT INTO chat_message (id, session_id, role, content, metadata, model,
                                      token_count, prompt_tokens, completion_tokens, cost,
                                      created_at)
            SELECT 'M' || lpad((i * 10 + j)::text, 26, '0'),
                   'S' || lpad(i::text, 26, '0'),
                   CASE WHEN j %% 2 = 0 THEN 'user' ELSE 'assistant' END,
                   CASE WHEN j %% 2 = 0
                        THEN 'Hello, my ' || (%(words)s::text[])[1 + (i + j * 3) %% 20]
                             || ' has a problem with the '
                             || (%(words)s::text[])[1 + (i * 7 + j) %% 20]
                        ELSE 'I can help with your ' || (%(words)s::text[])[1 + (i + j * 5) %% 20]
                             || '. Could you tell me the order number? Reference ' || i || '-' || j
                   END,
                   '{}'::jsonb,
                   CASE WHEN j %% 2 = 1 THEN 'gpt-bench' ELSE '' END,
                   20 + (i + j) %% 400, 10, 10,
                   CASE WHEN j %% 2 = 1 THEN ((i + j) %% 400) * 0.00001 ELSE 0 END,
                   now() - ((%(n)s - i) * interval '5 seconds') + j * interval '10 seconds'
            FROM generate_series(0, %(n)s - 1, %(every)s) AS i, generate_series(0, 9) AS j
            """,
            {"words": WORDS, "n": n_sessions, "every": every},
        )
        _say(f"messages for every {every}th session in {time.monotonic() - t0:.1f}s")
        cur.execute(  # the sessions' running totals, as chat.services.message_store keeps them
            """
            UPDATE chat_session s SET message_count = t.n, total_tokens = t.tokens,
                                      total_cost = t.cost
            FROM (SELECT session_id, count(*) AS n, sum(token_count) AS tokens,
                         sum(cost) AS cost
                  FROM chat_message GROUP BY session_id) AS t
            WHERE s.id = t.session_id
            """
        )

        # Feedback on 1 in 10 sessions that have messages (a third of it thumbs-down).
        cur.execute(
            """
            INSERT INTO executions_execution (id, workspace_id, agent_id, agent_name, session_id,
                status, input, metadata, model, prompt_tokens, completion_tokens, cached_tokens,
                reasoning_tokens, total_tokens, cost, trace_id, created_at, updated_at)
            SELECT 'E' || lpad(s.i::text, 26, '0'), cs.workspace_id, cs.agent_id, '',
                   cs.id, 'completed', '{}'::jsonb, '{}'::jsonb, 'gpt-bench', 10, 10, 0, 0, 20,
                   0.001, '', cs.created_at, cs.created_at
            FROM generate_series(0, %(n)s - 1, %(every)s * 10) AS s(i)
            JOIN chat_session cs ON cs.id = 'S' || lpad(s.i::text, 26, '0')
            """,
            {"n": n_sessions, "every": every},
        )
        cur.execute(
            """
            INSERT INTO chat_feedback (id, session_id, execution_id, value, created_at,
                                       updated_at)
            SELECT 'F' || substr(e.id, 2), e.session_id, e.id,
                   CASE WHEN substr(e.id, 20)::bigint % 3 = 0 THEN -1 ELSE 1 END,
                   e.created_at, e.created_at
            FROM executions_execution e WHERE e.id LIKE 'E%'
            """
        )
        t0 = time.monotonic()
        for _name, definition in indexes:
            cur.execute(definition)
        _say(f"rebuilt {len(indexes)} indexes in {time.monotonic() - t0:.1f}s")
        cur.execute("VACUUM ANALYZE chat_session")
        cur.execute("VACUUM ANALYZE chat_message")
        cur.execute("ANALYZE")
    return {"staff_workspace": workspaces[STAFF_WORKSPACE].name}


# --- timing ---------------------------------------------------------------------------------

def _explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return "\n".join(row[0] for row in cur.fetchall())


def time_cases(runs: int) -> list[Result]:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    setup_test_environment()  # response.context (the changelist's rows)
    results: list[Result] = []
    for username in ("bench-admin", "bench-staff"):
        client = Client()
        client.force_login(User.objects.get(username=username))
        client.get("/admin/chat/session/?e=warmup")  # templates, content types
        label = "superuser" if username == "bench-admin" else "staff (1 workspace)"
        for case in cases():
            url = "/admin/chat/session/" + (f"?{urlencode(case.params)}" if case.params else "")
            result = Result(user=label, case=case.name)
            for run in range(runs):
                if run == 1 and result.ms[0] > SLOW_MS:
                    break  # one run is enough to know it is too slow
                with CaptureQueriesContext(connection) as ctx:
                    start = time.perf_counter()
                    response = client.get(url)
                    elapsed = (time.perf_counter() - start) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"{url}: HTTP {response.status_code}")
                result.ms.append(elapsed)
                result.queries = len(ctx.captured_queries)
                result.rows = len(response.context["cl"].result_list)
                for q in ctx.captured_queries:
                    q_ms = float(q["time"]) * 1000
                    if q_ms > result.slowest_ms:
                        result.slowest_ms, result.slowest_sql = q_ms, q["sql"]
            results.append(result)
            _say(f"{label:20} {case.name:45} p50 {statistics.median(result.ms):8.1f} ms")
    return results


def report(results: list[Result], explain: bool) -> str:
    lines = [
        "| user | case | p50 ms | max ms | queries | rows | slowest query ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        runs = "" if len(r.ms) > 1 else " (1 run)"
        lines.append(f"| {r.user} | {r.case}{runs} | {statistics.median(r.ms):.0f} | "
                     f"{max(r.ms):.0f} | {r.queries} | {r.rows} | {r.slowest_ms:.0f} |")
    out = "\n".join(lines) + "\n"
    if explain:
        for r in results:
            if not r.slowest_sql:
                continue
            out += (f"\n### {r.user} — {r.case} (slowest query {r.slowest_ms:.0f} ms)\n\n"
                    f"```sql\n{r.slowest_sql}\n```\n\n```\n{_explain(r.slowest_sql)}\n```\n")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--message-sessions", type=int, default=50_000,
                        help="sessions given 10 messages each (spread over time)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument("--reuse", help="time an existing bench database, no fill")
    parser.add_argument("--no-explain", action="store_true")
    args = parser.parse_args(argv)

    name = args.reuse or f"bench_admin_{secrets.token_hex(4)}"
    if not args.reuse:
        create_database(args.pg, name)
        _say(f"created database {name}")
    try:
        setup_django(f"{args.pg}/{name}")
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        if not args.reuse:
            t0 = time.monotonic()
            fill(args.sessions, args.message_sessions)
            _say(f"filled in {time.monotonic() - t0:.1f}s")
        results = time_cases(args.runs)
        print(f"\nmachine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
              f"Python {platform.python_version()}; database {name}\n")
        print(report(results, explain=not args.no_explain))
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(args.pg, name)
            _say(f"dropped database {name}")
        else:
            _say(f"kept database {name}")


if __name__ == "__main__":
    main()
