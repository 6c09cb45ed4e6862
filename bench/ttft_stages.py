"""Where one stream's added time to first token goes, seen from the client.

    python -m bench.ttft_stages [--db sqlite|postgres] [--n 20] [--tokens 20] [--itl-ms 1]
                             [--profile FILE]

Starts the fake model and one server (as `bench.run` does), sends `n` sequential SSE turns
and prints, as medians: the model's own TTFT asked directly; our response headers (sent
once the turn is stored: authentication + turn start); our first content token; and the
first token minus the headers (the runner, the provider call and the relay, which
overlap the response start). Added TTFT ≈ first token − the model's own TTFT. Also the
server's CPU per turn (/proc), and with --profile a py-spy raw profile of the sequential
turns (summarize it with `python -m bench.profile FILE`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench import load, stack


async def _turn(http: httpx.AsyncClient, base: str, key: str,
                session_id: str) -> tuple[float, float]:
    start = time.perf_counter()
    headers_at = first_at = None
    async with http.stream("POST", f"{base}/api/v1/chat/sessions/{session_id}/messages/stream",
                           json={"content": "hello"}, headers={"X-API-Key": key}) as response:
        headers_at = time.perf_counter() - start
        async for chunk in response.aiter_raw():
            if first_at is None and b"event: content" in chunk:
                first_at = time.perf_counter() - start
    if first_at is None:
        raise RuntimeError(f"no content token (HTTP {response.status_code})")
    return headers_at * 1000, first_at * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=20, help="tokens per reply")
    parser.add_argument("--itl-ms", type=float, default=1.0, help="the model's inter-token time")
    parser.add_argument("--profile", type=Path, help="py-spy the server during the turns")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="promptrails-ttft-"))
    fake = stack.start_fake(tokens=args.tokens, ttft_ms=50, itl_ms=args.itl_ms, procs=1,
                            log=logs / "fake.log")
    server = stack.prepare_server(args.db, stack.ROOT, fake.url,
                                  {"fake_url": fake.url, "sessions": 10}, logs / "server.log")
    try:
        stack.start_server(server, logs / "server.log")
        sessions = server.setup["sessions"]
        async with load.client() as http:
            for session_id in sessions[:3]:  # warm-up
                await _turn(http, server.base, server.key, session_id)
            direct = [(await load.openai_stream(http, fake.url)).ttft or 0.0
                      for _ in range(args.n)]
            spy = None
            if args.profile is not None:
                spy = stack.pyspy_start(server.proc.pid, args.profile, logs / "py-spy.log")
                await asyncio.sleep(1.0)
            cpu0 = stack.cpu_seconds(server.proc.pid)
            turns = [await _turn(http, server.base, server.key, sessions[i % len(sessions)])
                     for i in range(args.n)]
            cpu = stack.cpu_seconds(server.proc.pid) - cpu0
            stack.pyspy_stop(spy)
    finally:
        stack.drop_server(server)
        stack.stop(fake.proc)
    model = statistics.median(direct) * 1000
    headers = statistics.median(t[0] for t in turns)
    first = statistics.median(t[1] for t in turns)
    print(f"| db | model TTFT | our headers | our first token | first − headers | added "
          f"| server CPU/turn |\n|---|---:|---:|---:|---:|---:|---:|\n"
          f"| {args.db} | {model:.1f} | {headers:.1f} | {first:.1f} | "
          f"{statistics.median(t[1] - t[0] for t in turns):.1f} | {first - model:.1f} | "
          f"{cpu / args.n * 1000:.1f} |")
    print(f"server CPU per token, turn included: {cpu / args.n / args.tokens * 1e6:.0f} µs "
          f"({args.tokens} tokens a reply)")


if __name__ == "__main__":
    asyncio.run(main())
