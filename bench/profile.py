"""Summarize a py-spy raw (collapsed-stack) profile of the server into markdown.

    python -m bench.profile bench/profiles/sqlite-100-streams.txt

Each line of the input is ``frame;frame;…;leaf count``. A sample counts toward a category
when any frame of its stack matches (inclusive time), so categories may overlap; the
"self" table is by leaf frame.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

# (label, pattern over one frame "function (path:line)")
CATEGORIES: list[tuple[str, str]] = [
    ("run_db / sync_to_async worker threads (all DB work)", r"concurrent/futures/thread\.py"),
    ("  of which Django ORM + driver", r"django/db/|sqlite3|psycopg"),
    ("  of which turn_start (history, prompt, claim, inserts)", r"turn_start \("),
    ("  of which event-log flush (log.append)", r"executions/log\.py"),
    ("  of which heartbeat / status poll (_beat)", r"_beat \("),
    ("  of which finishing (_store / turn_finish)", r"_store \(|turn_finish \("),
    ("asgiref sync_to_async / thread hand-off (loop side)", r"asgiref/sync\.py"),
    ("channel layer group_send (bus.publish)", r"group_send \("),
    ("channel layer receive (followers)", r"layers.*receive \(|pubsub.*receive \("),
    ("runner _emit (per token, incl. publish)", r"_emit \(executions/runner"),
    ("follow() per event", r"executions/follow\.py"),
    ("SSE framing (sse.frame / frames)", r"executions/sse\.py"),
    ("json encode/decode", r"json/(encoder|decoder|__init__)\.py"),
    ("OpenAI SDK stream parsing (openai/, pydantic)", r"openai/|pydantic"),
    ("upstream HTTP (httpx / httpcore)", r"httpx/|httpcore/"),
    ("uvicorn HTTP protocol + ASGI send", r"uvicorn/protocols"),
    ("Django request/response handling (handlers, middleware)", r"django/core/handlers|"
     r"django/utils/deprecation|middleware"),
    ("StreamingHttpResponse body iteration (ASGI handler)", r"send_response \(|"
     r"streaming_content|aiter"),
    ("WebSocket consumer", r"channels/generic/websocket|chat/consumers\.py"),
    ("logging", r"logging/__init__\.py"),
]

_FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^:]*):?(?P<line>\d*)\)$")


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match.group("file")
    for marker in ("site-packages/", "lib/python3.11/", "/main/", "promptrails-rev-"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "promptrails-rev-":
                path = path.split("/", 1)[-1]
    return f"{match.group('fn')} ({path})"


def load(path: Path) -> list[tuple[list[str], int]]:
    samples = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples.append((stack.split(";"), int(count)))
    return samples


def summarize(path: Path, top: int = 15) -> str:
    samples = load(path)
    total = sum(c for _, c in samples) or 1
    lines = [f"{total:,} on-CPU samples at 250 Hz (all threads). Inclusive share per "
             "category (overlapping):", "", "| category | share |", "|---|---:|"]
    compiled = [(label, re.compile(pattern)) for label, pattern in CATEGORIES]
    for label, pattern in compiled:
        hit = sum(c for stack, c in samples if any(pattern.search(f) for f in stack))
        lines.append(f"| {label} | {hit / total:.1%} |")
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for stack, count in samples:
        leaf[_short(stack[-1])] += count
        for frame in {_short(f) for f in stack}:
            inclusive[frame] += count
    lines += ["", "Top self time (leaf frames):", "", "| frame | self |", "|---|---:|"]
    lines += [f"| `{f}` | {c / total:.1%} |" for f, c in leaf.most_common(top)]
    app = [(f, c) for f, c in inclusive.most_common() if re.search(
        r"\((chat|executions|agents|promptrails)/", f)]
    lines += ["", "Top inclusive time in app code:", "", "| frame | inclusive |", "|---|---:|"]
    lines += [f"| `{f}` | {c / total:.1%} |" for f, c in app[:top]]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1])))
