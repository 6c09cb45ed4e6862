"""Slow streams, the realistic case (issue 22, target 5): many long conversations at once.

One server process, a fake model that streams like a real one (``--tps`` tokens a second
for ``--seconds``), ``--streams`` concurrent SSE sends plus ``--ws-idle`` idle WebSockets.
Reports errors, the added inter-token delay (each gap between two content frames at the
client minus the model's own gap; its p99 also once every stream has had its first token,
since all the sends start at once), the driver's own event-loop lag (a check on the
measure: gaps cannot be told apart from it), RSS per open stream, and the event log's write rate
(rows and bytes a second, read from the database after the run).

    python -m bench.slow_streams [--streams 1000] [--seconds 60] [--tps 20] [--ws-idle 200]
                                 [--db sqlite|postgres]

`make bench` runs a short version (bench/run.py: 200 streams × 15 s), `make bench-full` the
full one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import load, stack
from bench.load import percentile

TARGET_ADDED_ITL_P99_MS = 50.0


@dataclass
class Stream:
    gaps: list[float] = field(default_factory=list)  # seconds between content frames
    at: list[float] = field(default_factory=list)  # when each gap ended (perf_counter)
    first: float | None = None  # when the first content frame came
    tokens: int = 0
    error: str | None = None


@dataclass
class SlowResult:
    db: str
    streams: int
    seconds: float
    tps: float
    ws_idle: int
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    added_p50_ms: float = float("nan")
    added_p99_ms: float = float("nan")
    settled_p99_ms: float = float("nan")  # gaps after every stream had its first token
    driver_lag_p99_ms: float = float("nan")  # the load driver's own event-loop lateness
    kib_per_stream: float = float("nan")
    rows_per_s: float = float("nan")
    bytes_per_s: float = float("nan")
    cpu_s: float = 0.0
    wall_s: float = 0.0
    tokens: int = 0

    @property
    def met(self) -> bool:
        return self.errors == 0 and self.added_p99_ms <= TARGET_ADDED_ITL_P99_MS

    def row(self) -> str:
        return (f"| {self.db} | {self.streams} SSE × {self.seconds:.0f} s at {self.tps:.0f} tok/s "
                f"+ {self.ws_idle} idle WS | {self.errors} | {self.added_p50_ms:.1f} | "
                f"{self.added_p99_ms:.1f} | {self.settled_p99_ms:.1f} | "
                f"{self.driver_lag_p99_ms:.1f} | {self.kib_per_stream:.0f} | "
                f"{self.rows_per_s:,.0f} rows/s, {self.bytes_per_s / 1024:,.0f} KiB/s | "
                f"{self.cpu_s:.0f} s / {self.wall_s:.0f} s | "
                f"{'met' if self.met else 'missed'} (p99 ≤ {TARGET_ADDED_ITL_P99_MS:.0f} ms, "
                f"0 errors) |")


HEADER = ("| database | load | errors | added inter-token p50 (ms) | p99 (ms) | "
          "p99 once all had started (ms) | driver loop lag p99 (ms) | "
          "RSS per open stream (KiB) | event log writes | server CPU / wall | target |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")


CONTENT, DONE, ERROR = b"\nevent: content\n", b"\nevent: done\n", b"\nevent: error\n"


async def _stream(base: str, key: str, session_id: str, timeout: float) -> Stream:
    """One streamed send over a plain socket; the arrival time of every content frame.

    Not httpx: a thousand httpx streams kept this driver's own event loop 200+ ms late
    (its p99), which the gaps then measured. This reads raw bytes and counts frame
    markers (a chunk-size line cannot hold one; a marker cut between two reads is caught
    by keeping the last bytes)."""
    out = Stream()
    url = httpx.URL(base)
    body = json.dumps({"content": "tell me a long story"}).encode()
    request = (f"POST /api/v1/chat/sessions/{session_id}/messages/stream HTTP/1.1\r\n"
               f"Host: {url.host}:{url.port}\r\nX-API-Key: {key}\r\n"
               "Accept: text/event-stream\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    last: float | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(url.host, url.port)
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                if status != 200:
                    out.error = f"HTTP {status}"
                    return out
                tail, ended = b"", False
                while data := await reader.read(65536):
                    now = time.perf_counter()
                    chunk = tail + data
                    for _ in range(chunk.count(CONTENT)):
                        if last is None:
                            out.first = now
                        else:
                            out.gaps.append(now - last)
                            out.at.append(now)
                        last = now
                        out.tokens += 1
                    if DONE in chunk:
                        ended = True
                    elif ERROR in chunk:
                        message = chunk.split(ERROR, 1)[1].split(b"data: ", 1)[-1][:100]
                        out.error = "error event: " + message.decode(errors="replace")
                    tail = chunk[-(len(CONTENT) - 1):]
            finally:
                writer.close()
        if not ended and out.error is None:
            out.error = "stream ended without a terminal event"
    except Exception as exc:  # noqa: BLE001 - every failure is a counted error
        out.error = f"{type(exc).__name__}: {exc}"[:160]
    return out


async def _loop_lag(lags: list[float]) -> None:
    """How late this driver's own event loop wakes (s): its gaps are only as good as this."""
    while True:
        start = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(time.perf_counter() - start - 0.01)


def _event_log_totals(server: stack.Server) -> tuple[int, int]:
    """Rows and bytes in the server's event log (its own database, read after the run)."""
    script = ("import django, json; django.setup(); from django.db.models import Sum; "
              "from django.db.models.functions import Length, Cast; "
              "from django.db.models import TextField; "
              "from executions.models import ExecutionEvent as E; "
              "q = E.objects.all(); "
              "print(json.dumps([q.count(), q.aggregate(b=Sum(Length(Cast('data', "
              "output_field=TextField()))))['b'] or 0]))")
    env = {**server.env, "DJANGO_SETTINGS_MODULE": "promptrails.settings"}
    done = subprocess.run([str(stack.VENV_BIN / "python"), "-c", script], cwd=server.app_dir,
                          env=env, capture_output=True, text=True, timeout=300, check=True)
    rows, size = json.loads(done.stdout.strip().splitlines()[-1])
    return int(rows), int(size)


async def _rss_peak(pid: int, until: asyncio.Event, peak: list[int]) -> None:
    while not until.is_set():
        peak[0] = max(peak[0], stack.rss_kib(pid))
        await asyncio.sleep(1.0)


async def measure(server: stack.Server, result: SlowResult) -> None:
    """Run the load against a started server whose sessions' agent streams slowly."""
    assert server.proc is not None
    ids = server.setup["sessions"]
    stream_ids, idle_ids = ids[:result.streams], ids[result.streams:]
    sockets, failures = await load.ws_open_many(server.ws_base, server.key,
                                                idle_ids[:result.ws_idle])
    failures = [f"websocket: {failure}" for failure in failures]
    rows0, bytes0 = _event_log_totals(server)
    await asyncio.sleep(1.0)
    pid = server.proc.pid
    rss0, peak = stack.rss_kib(pid), [0]
    done = asyncio.Event()
    watcher = asyncio.ensure_future(_rss_peak(pid, done, peak))
    cpu0, start = stack.cpu_seconds(pid), time.perf_counter()
    lags: list[float] = []
    lagging = asyncio.ensure_future(_loop_lag(lags))
    streams = await asyncio.gather(*(_stream(server.base, server.key, sid,
                                             result.seconds * 3 + 120) for sid in stream_ids))
    result.wall_s = time.perf_counter() - start
    lagging.cancel()
    result.driver_lag_p99_ms = percentile(lags, 99) * 1000
    result.cpu_s = stack.cpu_seconds(pid) - cpu0
    done.set()
    await watcher
    await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
    rows1, bytes1 = _event_log_totals(server)
    itl = 1.0 / result.tps
    added = [max(gap - itl, 0.0) * 1000 for s in streams for gap in s.gaps]
    errors = [s.error for s in streams if s.error] + failures
    result.errors = len(errors)
    result.error_samples = errors[:3]
    result.added_p50_ms = percentile(added, 50)
    result.added_p99_ms = percentile(added, 99)
    # the same, leaving out the start-up: every stream's turn started in the same instant
    settled = max((s.first for s in streams if s.first is not None), default=0.0)
    result.settled_p99_ms = percentile(
        [max(gap - itl, 0.0) * 1000 for s in streams for gap, at in zip(s.gaps, s.at, strict=True)
         if at > settled], 99)
    result.kib_per_stream = (peak[0] - rss0) / max(result.streams, 1)
    result.rows_per_s = (rows1 - rows0) / result.wall_s
    result.bytes_per_s = (bytes1 - bytes0) / result.wall_s
    result.tokens = sum(s.tokens for s in streams)


async def run(db: str, *, streams: int, seconds: float, tps: float, ws_idle: int,
              logdir: Path, app_dir: Path = stack.ROOT) -> SlowResult:
    """Fake model, server on `db`, the load; everything stopped afterwards."""
    result = SlowResult(db=db, streams=streams, seconds=seconds, tps=tps, ws_idle=ws_idle)
    tokens = max(int(seconds * tps), 2)
    fake = stack.start_fake(tokens=tokens, ttft_ms=300.0, itl_ms=1000.0 / tps, procs=1,
                            log=logdir / f"slow-fake-{db}.log")
    server = None
    try:
        server = stack.prepare_server(db, app_dir, fake.url,
                                      {"fake_url": fake.url, "sessions": streams + ws_idle},
                                      logdir / f"slow-setup-{db}.log")
        stack.start_server(server, logdir / f"slow-server-{db}.log")
        await measure(server, result)
    finally:
        if server is not None:
            stack.drop_server(server)
        stack.stop(fake.proc)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--tps", type=float, default=20.0)
    parser.add_argument("--ws-idle", type=int, default=200)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    from bench.run import raise_nofile

    raise_nofile()
    logdir = Path(tempfile.mkdtemp(prefix="promptrails-slow-"))
    result = asyncio.run(run(args.db, streams=args.streams, seconds=args.seconds, tps=args.tps,
                             ws_idle=args.ws_idle, logdir=logdir))
    print(HEADER)
    print(result.row())
    for sample in result.error_samples:
        print(f"- error: {sample}")
    print(f"({result.tokens:,} tokens streamed; logs in {logdir})")


if __name__ == "__main__":
    main()
