"""The benchmark run (issue 8): `python -m bench.run [--quick] [--db sqlite|postgres|both]`.

Starts the fake model, the server under test (one uvicorn process) on the embedded default
and, when reachable, on PostgreSQL + Redis, and the LiteLLM proxy peer; runs the scenarios;
prints markdown tables and writes bench/RESULTS.md (previous "Before/after" sections and the
run history are kept).

By default the working tree is benchmarked; `--rev REV` benchmarks a committed revision
(extracted with `git archive` into a temporary directory), so edits in progress elsewhere in
the tree neither break nor colour the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import math
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench import app_setup, load, slow_streams, stack
from bench.load import Sample, percentile

RESULTS = stack.BENCH / "RESULTS.md"
PROFILES = stack.BENCH / "profiles"
HISTORY_SIZES = (10, 10_000, 100_000)
SHORT_MODEL = app_setup.SHORT_MODEL  # the agent of the 1-stream sessions (20-token replies)
LONG_TOKENS = int(app_setup.LONG_MODEL.rsplit("-t", 1)[1])  # the long-reply agent's tokens
BUSY_SENDS = 20  # simultaneous sends to one session: one turn starts, the rest are 409
TARGETS = {  # issue 8
    "added1_p50": 10.0, "added1_p99": 50.0, "added100_p99": 100.0, "history_ratio": 1.5,
}
TARGETS22 = {  # issue 22
    "cpu_ms_per_turn20": {"sqlite": 10.0, "postgres": 15.0},
    "added1_p50_vs_peer_p50": 0.4, "added1_p99_vs_peer_p50": 1.0,
    "cpu_us_per_token_long": 30.0, "capacity_streams": 25,
    "history_ratio": 1.5,
}


@dataclass
class Plan:
    quick: bool
    fake_tokens: int = 200
    ttft_ms: float = 50.0
    itl_ms: float = 5.0
    single: int = 40  # sequential streams (20-token replies) for the 1-stream rows
    cpu_turns: int = 40  # sequential 20-token turns, each on a fresh session: server CPU/turn
    long_turns: int = 5  # sequential long replies (LONG_TOKENS each): server CPU/token
    long_conc: int = 10  # long replies at once (the concurrent variant)
    rounds100: int = 1  # rounds of 100 concurrent streams
    conc: int = 200  # concurrent conversations
    ws_idle: int = 1000
    ws_active: int = 200
    history: tuple[int, ...] = HISTORY_SIZES  # prior messages of the history sessions
    history_sends: int = 5
    # concurrency levels of the capacity sweep (most streams with added TTFT p99 ≤ 100 ms)
    capacity: tuple[int, ...] = (5, 10, 15, 20, 25, 30)
    # slow streams (bench/slow_streams.py): streams, seconds a reply, idle sockets
    slow: tuple[int, float, int] = (200, 15.0, 50)

    @classmethod
    def make(cls, quick: bool, smoke: bool = False) -> Plan:
        if smoke:  # a check that every scenario runs and renders, not a measurement
            return cls(quick=True, single=5, cpu_turns=5, long_turns=2, long_conc=2, conc=20,
                       ws_idle=20, ws_active=10, history=(10, 100, 1000), history_sends=3,
                       capacity=(5, 25), slow=(10, 3.0, 5))
        if quick:
            return cls(quick=True)
        return cls(quick=False, single=200, cpu_turns=200, long_turns=20, rounds100=3,
                   history_sends=20, capacity=(5, 10, 15, 20, 25, 30, 40, 60),
                   slow=(1000, 60.0, 200))

    @property
    def sessions(self) -> int:
        return max(self.ws_idle, 10 + 100 * self.rounds100 + sum(self.capacity) + self.conc
                   + self.ws_active + 20)

    def setup_params(self, fake_url: str) -> dict[str, Any]:
        """What bench/app_setup.py creates: every measured 20-token or long turn gets a
        session of its own (10 more short ones for the 1-stream rows, one long warm-up)."""
        return {"fake_url": fake_url, "sessions": self.sessions, "history": list(self.history),
                "short_sessions": 10 + self.cpu_turns,
                "long_sessions": 1 + self.long_turns + self.long_conc}


@dataclass
class Row:
    scenario: str
    n: int
    p50: float  # ms
    p99: float  # ms
    errors: int
    throughput: str
    note: str = ""


@dataclass
class DbResult:
    db: str
    rows: list[Row] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    profile: str = ""


def ms(seconds: float) -> float:
    return seconds * 1000


def _ttfts(samples: list[Sample]) -> list[float]:
    return [s.ttft for s in samples if s.ttft is not None and not s.error]


def _totals(samples: list[Sample]) -> list[float]:
    return [s.total for s in samples if s.total is not None and not s.error]


def _tok_rate(samples: list[Sample], wall: float) -> str:
    tokens = sum(s.tokens for s in samples)
    return f"{tokens / wall:,.0f} tok/s" if wall > 0 else "-"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Sessions:
    """Hands out fresh sessions (one turn at a time per session: never reuse a busy one)."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.next = 0

    def take(self, n: int) -> list[str]:
        if self.next + n > len(self.ids):
            self.next = 0  # wrap: earlier turns are finished by now
        out = self.ids[self.next:self.next + n]
        self.next += n
        return out


# --- scenarios --------------------------------------------------------------------------

async def direct_baseline(fake_url: str, concurrency: int, count: int) -> list[Sample]:
    async with load.client() as http:
        if concurrency == 1:
            return await load.sequential(
                [partial(load.openai_stream, http, fake_url) for _ in range(count)])
        samples: list[Sample] = []
        for _ in range(max(1, count // concurrency)):
            batch, _ = await load.concurrent(
                [partial(load.openai_stream, http, fake_url) for _ in range(concurrency)])
            samples += batch
        return samples


def added_ttfts(ours: list[Sample], base: list[Sample]) -> tuple[float, list[float]]:
    """The model's median TTFT asked directly (s), and per request our added TTFT (ms) =
    our TTFT − that median."""
    baseline = percentile(_ttfts(base), 50)
    return baseline, [ms(t - baseline) for t in _ttfts(ours)]


def added_row(name: str, ours: list[Sample], base: list[Sample], wall: float) -> tuple[Row, float,
                                                                                        float]:
    baseline, added = added_ttfts(ours, base)
    p50, p99 = percentile(added, 50), percentile(added, 99)
    row = Row(name, len(ours), p50, p99, load.errors(ours), _tok_rate(ours, wall),
              f"model TTFT asked directly p50 {ms(baseline):.1f} ms; our raw TTFT p50 "
              f"{ms(percentile(_ttfts(ours), 50)):.1f} / p99 {ms(percentile(_ttfts(ours), 99)):.1f}"
              " ms")
    return row, p50, p99


async def scenario_added(server: stack.Server, fake_url: str, plan: Plan, pool: Sessions,
                         result: DbResult, pyspy_out: Path | None) -> None:
    base, key = server.base, server.key
    async with load.client() as http:
        # warm-up: first request imports lazily, builds the pooled client, fills caches
        for sid in pool.take(3):
            await load.sse_send(http, base, key, sid)
        # 1 stream, sequential, each turn right after the model asked directly; 20-token
        # replies (time to first token is the measure), rotating over 10 sessions
        sids = server.setup["short"]
        d1, ours1 = await load.alternating(
            partial(load.openai_stream, http, fake_url, model=SHORT_MODEL),
            lambda i: load.sse_send(http, base, key, sids[i % 10]), plan.single)
        row, p50, p99 = added_row("added TTFT, 1 stream (SSE, 20-token replies)", ours1, d1,
                                  sum(_totals(ours1)))
        result.rows.append(row)
        result.metrics.update(added1_p50=p50, added1_p99=p99)
        result.error_samples += load.first_errors(ours1)

        # 100 concurrent streams (profiled when asked)
        d100 = await direct_baseline(fake_url, 100, 100 * plan.rounds100)
        spy = None
        if pyspy_out is not None:
            spy = stack.pyspy_start(server.proc.pid, pyspy_out, pyspy_out.with_suffix(".log"))
            await asyncio.sleep(1.0)
        cpu0 = stack.cpu_seconds(server.proc.pid)
        ours100: list[Sample] = []
        wall = 0.0
        for _ in range(plan.rounds100):
            batch, w = await load.concurrent(
                [partial(load.sse_send, http, base, key, sid) for sid in pool.take(100)])
            ours100 += batch
            wall += w
        cpu = stack.cpu_seconds(server.proc.pid) - cpu0
        stack.pyspy_stop(spy)
        row, p50, p99 = added_row("added TTFT, 100 concurrent (SSE)", ours100, d100, wall)
        tokens = sum(s.tokens for s in ours100)
        row.note += (f"; server CPU {cpu / max(len(ours100), 1) * 1000:.1f} ms/turn, "
                     f"{cpu / max(tokens, 1) * 1e6:.0f} µs/token")
        result.rows.append(row)
        result.metrics.update(added100_p50=p50, added100_p99=p99,
                              cpu_us_per_token=cpu / max(tokens, 1) * 1e6,
                              cpu_ms_per_turn=cpu / max(len(ours100), 1) * 1000)
        result.error_samples += load.first_errors(ours100)


async def _cpu_of(server: stack.Server,
                  calls: list[Callable[[], Awaitable[Sample]]],
                  at_once: bool = False) -> tuple[list[Sample], float]:
    """Run `calls` one after another (or all at once); their samples and the server CPU
    seconds (user + system, all threads, /proc) consumed meanwhile."""
    assert server.proc is not None
    pid = server.proc.pid
    cpu0 = stack.cpu_seconds(pid)
    if at_once:
        samples, _ = await load.concurrent(calls)
    else:
        samples = await load.sequential(calls)
    await asyncio.sleep(0.2)  # the last turn's trailing work is counted too
    return samples, stack.cpu_seconds(pid) - cpu0


async def _idle_cpu_per_second(server: stack.Server, seconds: float = 3.0) -> float:
    """The server's CPU seconds per second while nothing runs (after a moment to settle)."""
    assert server.proc is not None
    await asyncio.sleep(1.0)
    cpu0, start = stack.cpu_seconds(server.proc.pid), time.perf_counter()
    await asyncio.sleep(seconds)
    return (stack.cpu_seconds(server.proc.pid) - cpu0) / (time.perf_counter() - start)


def _reply_times(samples: list[Sample]) -> str:
    totals = [ms(t) for t in _totals(samples)]
    return f"reply time p50 {percentile(totals, 50):,.0f} / p99 {percentile(totals, 99):,.0f} ms"


async def scenario_turn_cpu(server: stack.Server, plan: Plan, result: DbResult) -> None:
    """Issue 22 target 1: server CPU per 20-token streamed turn, over sequential SSE turns
    each on a session of its own (the first 10 short sessions serve the 1-stream rows)."""
    sids = server.setup["short"][10:10 + plan.cpu_turns]
    async with load.client() as http:
        samples, cpu = await _cpu_of(
            server, [partial(load.sse_send, http, server.base, server.key, sid) for sid in sids])
    per_turn = ms(cpu) / max(len(samples), 1)
    result.rows.append(Row(
        f"server CPU per 20-token SSE turn ({len(samples)} sequential, one per session)",
        len(samples), math.nan, math.nan, load.errors(samples), f"{per_turn:.1f} ms CPU/turn",
        f"server CPU {cpu:.2f} s over the batch (/proc, user + system); {_reply_times(samples)}"))
    result.metrics["cpu_ms_per_turn20"] = per_turn
    result.error_samples += load.first_errors(samples)


def _per_token_us(cpu: float, turns: int, turn20_ms: float | None) -> float:
    """Server CPU per streamed token (µs) of `turns` long replies that took `cpu` seconds,
    each reply's turn cost (a 20-token turn's CPU) taken out."""
    if turn20_ms is None or turns == 0:
        return math.nan
    return (cpu - turns * turn20_ms / 1000) / (turns * (LONG_TOKENS - 20)) * 1e6


async def scenario_long(server: stack.Server, plan: Plan, result: DbResult) -> None:
    """Issue 22 target 3: server CPU per token once a reply runs: long replies (LONG_TOKENS
    each), sequential and then `long_conc` at once, minus the 20-token turn's CPU."""
    sids = server.setup["long"]
    warm, seq_ids = sids[0], sids[1:1 + plan.long_turns]
    conc_ids = sids[1 + plan.long_turns:1 + plan.long_turns + plan.long_conc]
    turn20 = result.metrics.get("cpu_ms_per_turn20")
    async with load.client() as http:
        send = partial(load.sse_send, http, server.base, server.key)
        await send(warm)  # the long agent's first turn fills its caches
        idle = await _idle_cpu_per_second(server)
        seq, cpu_seq = await _cpu_of(server, [partial(send, sid) for sid in seq_ids])
        await asyncio.sleep(0.5)
        conc, cpu_conc = await _cpu_of(server, [partial(send, sid) for sid in conc_ids],
                                       at_once=True)
    for samples, cpu, how in ((seq, cpu_seq, "sequential"), (conc, cpu_conc, "at once")):
        per_token = _per_token_us(cpu, len(samples), turn20)
        frames = percentile([float(s.tokens) for s in samples], 50)
        # what the process spends anyway (uvicorn's ticks, housekeeping) over the replies
        totals = _totals(samples)
        wall = sum(totals) if how == "sequential" else max(totals, default=0.0)
        idle_us = idle * wall / (len(samples) * (LONG_TOKENS - 20)) * 1e6
        result.rows.append(Row(
            f"server CPU per streamed token: {len(samples)} × {LONG_TOKENS:,}-token SSE "
            f"replies, {how}", len(samples), math.nan, math.nan, load.errors(samples),
            f"{per_token:,.1f} µs CPU/token",
            f"server CPU {ms(cpu) / max(len(samples), 1):,.0f} ms per reply, minus "
            f"{_fmt(turn20)} ms per 20-token turn, over {LONG_TOKENS - 20:,} tokens; "
            f"content frames received per reply p50 {frames:,.0f}; {_reply_times(samples)}; "
            f"of that, the process's idle CPU ({ms(idle):.1f} ms/s, measured before) over "
            f"the reply time: {idle_us:,.1f} µs/token"))
        result.error_samples += load.first_errors(samples)
        result.metrics[f"idle_us_per_token_{how.replace(' ', '_')}"] = idle_us
    result.metrics.update(
        cpu_us_per_token_long=_per_token_us(cpu_seq, len(seq), turn20),
        cpu_us_per_token_long_conc=_per_token_us(cpu_conc, len(conc), turn20),
        cpu_ms_per_turn_long=ms(cpu_seq) / max(len(seq), 1))


async def scenario_one_turn(server: stack.Server, pool: Sessions, result: DbResult) -> None:
    """Issue 22 target 6c: BUSY_SENDS simultaneous sends to one session start exactly one
    turn; every other send is an HTTP 409 `session_busy`."""
    sid = pool.take(1)[0]
    async with load.client() as http:
        samples, _ = await load.concurrent(
            [partial(load.sse_send, http, server.base, server.key, sid)
             for _ in range(BUSY_SENDS)])
    started = [s for s in samples if not s.error]
    busy = [s for s in samples if _session_busy(s)]
    refused = [ms(s.total) for s in busy if s.total is not None]
    others = [s for s in samples if s.error and not _session_busy(s)]
    result.rows.append(Row(
        f"one turn per session: {BUSY_SENDS} simultaneous sends to one session (409 time)",
        len(samples), percentile(refused, 50), percentile(refused, 99), len(others), "-",
        f"{len(started)} turn(s) started and streamed, {len(busy)} × HTTP 409 session_busy"))
    result.metrics.update(busy_started=len(started), busy_409=len(busy))
    result.error_samples += load.first_errors(others)


def _session_busy(sample: Sample) -> bool:
    return bool(sample.error and sample.error.startswith("HTTP 409")
                and "session_busy" in sample.error)


async def scenario_capacity(server: stack.Server, fake_url: str, plan: Plan, pool: Sessions,
                            result: DbResult) -> None:
    """How many simultaneous sends (of the same 200-token replies) one process starts within
    the 100-stream target's bound: each level a burst of that many sends, its added TTFT
    measured against the model asked directly at the same concurrency; stops at the first
    level over the bound."""
    bound = TARGETS["added100_p99"]
    levels: list[str] = []
    best: tuple[int, float, float] | None = None
    async with load.client() as http:
        for level in plan.capacity:
            direct = await direct_baseline(fake_url, level, level)
            ours, _ = await load.concurrent(
                [partial(load.sse_send, http, server.base, server.key, sid)
                 for sid in pool.take(level)])
            _, added = added_ttfts(ours, direct)
            p50, p99 = percentile(added, 50), percentile(added, 99)
            errors = load.errors(ours)
            levels.append(f"{level}: p99 {p99:,.0f} ms" + (f", {errors} errors" if errors else ""))
            result.metrics[f"capacity_p99_{level}"] = p99
            result.error_samples += load.first_errors(ours)
            if errors or not p99 <= bound:
                break
            best = (level, p50, p99)
            await asyncio.sleep(0.5)
    result.rows.append(Row(
        f"capacity: largest burst of simultaneous sends (× {plan.fake_tokens} tokens) with "
        f"added TTFT p99 ≤ {bound:.0f} ms", best[0] if best else 0, best[1] if best else math.nan,
        best[2] if best else math.nan, 0, "-",
        "added TTFT p99 by concurrency: " + "; ".join(levels)))
    result.metrics["capacity_streams"] = float(best[0] if best else 0)


async def scenario_concurrency(server: stack.Server, plan: Plan, pool: Sessions,
                               result: DbResult) -> None:
    sids = pool.take(plan.conc)
    async with load.client() as http:
        cpu0 = stack.cpu_seconds(server.proc.pid)
        samples, wall = await load.concurrent(
            [partial(load.sse_send, http, server.base, server.key, sid, keep_text=True)
             for sid in sids])
        cpu = stack.cpu_seconds(server.proc.pid) - cpu0
        stored, mismatches = await _stored_as_streamed(http, server, sids, samples)
    ttfts = [ms(t) for t in _ttfts(samples)]
    totals = [ms(t) for t in _totals(samples)]
    tokens = sum(s.tokens for s in samples)
    result.rows.append(Row(
        f"{plan.conc} concurrent SSE conversations × {plan.fake_tokens} tokens (TTFT)",
        len(samples), percentile(ttfts, 50), percentile(ttfts, 99), load.errors(samples),
        _tok_rate(samples, wall),
        f"reply time p50 {percentile(totals, 50):,.0f} / p99 {percentile(totals, 99):,.0f} ms "
        f"(the model alone: {plan.ttft_ms + plan.itl_ms * (plan.fake_tokens - 1):,.0f} ms); "
        f"wall {wall:.1f} s; {tokens:,} tokens; server CPU {cpu:.1f} s"))
    result.rows.append(Row(
        f"nothing lost: the {plan.conc} concurrent replies, stored vs streamed", len(samples),
        math.nan, math.nan, len(samples) - stored, f"{stored} of {len(samples)} stored as "
        "streamed", "each stream's content deltas, joined, equal the stored assistant reply "
        "(GET …/messages?after=<its user message>&limit=1)"))
    result.metrics.update(conc_errors=load.errors(samples), conc_ttft_p99=percentile(ttfts, 99),
                          conc_tok_s=tokens / wall if wall else 0.0,
                          lost_stored=stored, lost_checked=len(samples))
    result.error_samples += load.first_errors(samples) + mismatches[:3]


async def _stored_as_streamed(http: httpx.AsyncClient, server: stack.Server, sids: list[str],
                              samples: list[Sample], batch: int = 20) -> tuple[int, list[str]]:
    """How many streams' text equals the reply stored for their turn (a stream that failed
    counts as not stored as streamed); and what the first mismatches were."""
    async def check(sid: str, sample: Sample) -> str | None:
        if sample.error or sample.user_message_id is None:
            return f"{sid}: stream failed ({sample.error or 'no execution frame'})"
        try:
            stored = await load.stored_reply(http, server.base, server.key, sid,
                                             sample.user_message_id)
        except Exception as exc:  # noqa: BLE001 - a reply we cannot read is not verified
            return f"{sid}: reading the reply failed: {type(exc).__name__}: {exc}"[:160]
        if stored != sample.text:
            return (f"{sid}: stored reply differs ({len(sample.text)} chars streamed, "
                    f"{'none' if stored is None else len(stored)} stored)")
        return None

    problems: list[str] = []
    for offset in range(0, len(samples), batch):
        found = await asyncio.gather(*(check(sid, sample) for sid, sample in
                                       zip(sids[offset:offset + batch],
                                           samples[offset:offset + batch], strict=True)))
        problems += [p for p in found if p is not None]
    return len(samples) - len(problems), problems


async def scenario_websocket(server: stack.Server, plan: Plan, pool: Sessions,
                             result: DbResult) -> None:
    pid = server.proc.pid
    # idle sockets: memory per socket
    rss0 = stack.rss_kib(pid)
    start = time.perf_counter()
    sockets, failures = await load.ws_open_many(server.ws_base, server.key,
                                                pool.ids[:plan.ws_idle])
    open_wall = time.perf_counter() - start
    await asyncio.sleep(2.0)
    rss1 = stack.rss_kib(pid)
    per_socket = (rss1 - rss0) / max(len(sockets), 1)
    # are they alive? one ping round over all of them
    ping_start = time.perf_counter()
    pings = await asyncio.gather(*(_ping(s) for s in sockets), return_exceptions=True)
    ping_wall = time.perf_counter() - ping_start
    dead = sum(1 for p in pings if p is not True)
    await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
    result.rows.append(Row(
        f"WebSocket: {plan.ws_idle} idle sockets (connect time)", plan.ws_idle,
        math.nan, math.nan, len(failures) + dead, f"{per_socket:.1f} KiB RSS/socket",
        f"RSS {rss0 / 1024:.0f} → {rss1 / 1024:.0f} MiB; opened in {open_wall:.1f} s "
        f"(100 at a time); ping round over all {ms(ping_wall):.0f} ms"))
    result.metrics.update(ws_kib_per_socket=per_socket, ws_idle_errors=len(failures) + dead)
    result.error_samples += failures[:3]
    await asyncio.sleep(1.0)

    # active sockets: one turn each, all at once
    ids = pool.take(plan.ws_active)
    opened = await asyncio.gather(*(load.ws_open(server.ws_base, server.key, sid) for sid in ids),
                                  return_exceptions=True)
    live = [s for s in opened if not isinstance(s, BaseException)]
    open_errors = len(opened) - len(live)
    samples, wall = await load.concurrent([partial(load.ws_turn, s) for s in live])
    await asyncio.gather(*(s.close() for s in live), return_exceptions=True)
    ttfts = [ms(t) for t in _ttfts(samples)]
    totals = [ms(t) for t in _totals(samples)]
    result.rows.append(Row(
        f"WebSocket: {plan.ws_active} active sockets, one turn each (TTFT)", len(ids),
        percentile(ttfts, 50), percentile(ttfts, 99), load.errors(samples) + open_errors,
        _tok_rate(samples, wall),
        f"reply time p50 {percentile(totals, 50):,.0f} / p99 {percentile(totals, 99):,.0f} ms; "
        f"wall {wall:.1f} s"))
    result.metrics.update(ws_active_errors=load.errors(samples) + open_errors,
                          ws_active_ttft_p99=percentile(ttfts, 99))
    result.error_samples += load.first_errors(samples)


async def _ping(socket: Any) -> bool:
    await socket.send('{"type":"ping"}')
    while True:
        reply = json.loads(await asyncio.wait_for(socket.recv(), 60))
        if reply.get("type") == "pong":
            return True


async def scenario_history(server: stack.Server, plan: Plan, result: DbResult) -> None:
    medians: dict[int, float] = {}
    async with load.client() as http:
        for size in plan.history:
            sid = server.setup["history"][str(size)]
            await load.post_send(http, server.base, server.key, sid)  # warm-up
            samples = await load.sequential(
                [partial(load.post_send, http, server.base, server.key, sid)
                 for _ in range(plan.history_sends)])
            sse = await load.sequential(
                [partial(load.sse_send, http, server.base, server.key, sid)
                 for _ in range(plan.history_sends)])
            totals = [ms(t) for t in _totals(samples)]
            medians[size] = percentile(totals, 50)
            result.rows.append(Row(
                f"history: send on a session with {size:,} prior messages", len(samples),
                medians[size], percentile(totals, 99), load.errors(samples) + load.errors(sse),
                "-",
                f"non-streaming POST (10-token reply, model alone "
                f"{plan.ttft_ms + plan.itl_ms * 9:.0f} ms); SSE TTFT p50 "
                f"{ms(percentile(_ttfts(sse), 50)):.1f} ms"))
            result.error_samples += load.first_errors(samples) + load.first_errors(sse)
    largest, smallest, middle = plan.history[-1], plan.history[0], plan.history[1]
    result.metrics.update(history_ratio=medians[largest] / medians[smallest],
                          history_ratio_10k=medians[largest] / medians[middle])


async def scenario_peer(peer: stack.Peer, fake_url: str, plan: Plan, result: DbResult) -> None:
    async with load.client() as http:
        for _ in range(3):
            await load.openai_stream(http, peer.url, key="sk-bench")
        d1, ours1 = await load.alternating(
            partial(load.openai_stream, http, fake_url, model=SHORT_MODEL),
            lambda _: load.openai_stream(http, peer.url, model=SHORT_MODEL, key="sk-bench"),
            plan.single)
        row, p50, p99 = added_row(
            f"LiteLLM proxy {peer.version}: added TTFT, 1 stream (20-token replies)", ours1, d1,
            sum(_totals(ours1)))
        result.rows.append(row)
        result.metrics.update(peer_added1_p50=p50, peer_added1_p99=p99)
        d100 = await direct_baseline(fake_url, 100, 100 * plan.rounds100)
        samples: list[Sample] = []
        wall = 0.0
        for _ in range(plan.rounds100):
            batch, w = await load.concurrent(
                [partial(load.openai_stream, http, peer.url, key="sk-bench")
                 for _ in range(100)])
            samples += batch
            wall += w
        row, p50, p99 = added_row("LiteLLM proxy: added TTFT, 100 concurrent", samples, d100,
                                  wall)
        result.rows.append(row)
        result.metrics.update(peer_added100_p50=p50, peer_added100_p99=p99)
        samples, wall = await load.concurrent(
            [partial(load.openai_stream, http, peer.url, key="sk-bench")
             for _ in range(plan.conc)])
        ttfts = [ms(t) for t in _ttfts(samples)]
        tokens = sum(s.tokens for s in samples)
        result.rows.append(Row(
            f"LiteLLM proxy: {plan.conc} concurrent streams × {plan.fake_tokens} tokens (TTFT)",
            len(samples), percentile(ttfts, 50), percentile(ttfts, 99), load.errors(samples),
            _tok_rate(samples, wall), f"wall {wall:.1f} s; persists nothing"))
        result.metrics.update(peer_conc_tok_s=tokens / wall if wall else 0.0,
                              peer_conc_errors=load.errors(samples))
        result.error_samples += load.first_errors(samples)


async def scenario_direct(fake_url: str, plan: Plan, result: DbResult) -> None:
    """The fake model alone: the floor every other row is measured against."""
    async with load.client() as http:
        samples, wall = await load.concurrent(
            [partial(load.openai_stream, http, fake_url) for _ in range(plan.conc)])
    ttfts = [ms(t) for t in _ttfts(samples)]
    totals = [ms(t) for t in _totals(samples)]
    result.rows.append(Row(
        f"the fake model directly: {plan.conc} concurrent streams (TTFT)", len(samples),
        percentile(ttfts, 50), percentile(ttfts, 99), load.errors(samples),
        _tok_rate(samples, wall),
        f"configured TTFT {plan.ttft_ms:.0f} ms, {plan.itl_ms:.0f} ms/token; reply time p99 "
        f"{percentile(totals, 99):,.0f} ms"))
    result.metrics.update(direct_conc_tok_s=sum(s.tokens for s in samples) / wall)


# --- one database -----------------------------------------------------------------------

async def run_db(db: str, args: argparse.Namespace, plan: Plan, fake: stack.FakeModel,
                 app_dir: Path, logdir: Path) -> DbResult:
    result = DbResult(db=db)
    log(f"{db}: setting up (migrate, bootstrap, {plan.sessions} sessions, histories "
        f"{', '.join(map(str, plan.history))})")
    server = stack.prepare_server(db, app_dir, fake.url, plan.setup_params(fake.url),
                                  logdir / f"setup-{db}.log")
    try:
        stack.start_server(server, logdir / f"server-{db}.log")
        pool = Sessions(server.setup["sessions"])
        steps: list[tuple[str, Callable[[], Any]]] = []
        pyspy_out = None
        if args.profile:
            PROFILES.mkdir(exist_ok=True)
            pyspy_out = PROFILES / f"{db}-100-streams.txt"
        steps.append(("added latency", partial(scenario_added, server, fake.url, plan, pool,
                                               result, pyspy_out)))
        steps.append(("server CPU per turn", partial(scenario_turn_cpu, server, plan, result)))
        steps.append(("server CPU per token", partial(scenario_long, server, plan, result)))
        steps.append(("one turn per session", partial(scenario_one_turn, server, pool, result)))
        steps.append(("capacity", partial(scenario_capacity, server, fake.url, plan, pool,
                                          result)))
        steps.append(("concurrency", partial(scenario_concurrency, server, plan, pool, result)))
        steps.append(("websocket", partial(scenario_websocket, server, plan, pool, result)))
        steps.append(("history", partial(scenario_history, server, plan, result)))
        for name, step in steps:
            log(f"{db}: {name}")
            try:
                await step()
            except Exception as exc:  # noqa: BLE001 - report and go on with the next one
                log(f"{db}: {name} FAILED: {type(exc).__name__}: {exc}")
                result.error_samples.append(f"scenario {name} failed: {type(exc).__name__}: "
                                            f"{exc}"[:300])
            await asyncio.sleep(1.0)
        result.metrics["rss_end_mib"] = stack.rss_kib(server.proc.pid) / 1024
        if pyspy_out is not None and pyspy_out.exists():
            from bench import profile

            result.profile = profile.summarize(pyspy_out)
    finally:
        stack.drop_server(server)
    return result


# --- report -----------------------------------------------------------------------------

def _fmt(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:,.1f}"


def table(rows: list[Row]) -> str:
    lines = ["| scenario | n | p50 ms | p99 ms | errors | throughput | notes |",
             "|---|---:|---:|---:|---:|---|---|"]
    for r in rows:
        lines.append(f"| {r.scenario} | {r.n} | {_fmt(r.p50)} | {_fmt(r.p99)} | {r.errors} | "
                     f"{r.throughput} | {r.note} |")
    return "\n".join(lines)


def _check(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def _get(metrics: dict[str, float], key: str) -> float | None:
    value = metrics.get(key)
    return None if value is None or math.isnan(value) else value


def _at_most(value: float | None, limit: float | None) -> bool | None:
    return None if value is None or limit is None else value <= limit


DB_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL + Redis"}


def targets(result: DbResult, peer: DbResult | None, slow: slow_streams.SlowResult | None,
            plan: Plan) -> str:
    """The issue 22 targets of one database, each measured in this run."""
    m = result.metrics
    lines = ["| target | measured | |", "|---|---|---|",
             _target_turn_cpu(result, plan), *_targets_vs_peer(m, peer), _target_token_cpu(m, plan),
             _target_capacity(m), _target_slow(slow), _target_guarantees(m, plan)]
    return "\n".join(lines)


def _target_turn_cpu(result: DbResult, plan: Plan) -> str:
    limit = TARGETS22["cpu_ms_per_turn20"][result.db]
    value = _get(result.metrics, "cpu_ms_per_turn20")
    return (f"| 1. server CPU per 20-token streamed turn ≤ {limit:.0f} ms "
            f"({DB_NAMES[result.db]}) | {_fmt(value)} ms ({plan.cpu_turns} sequential turns) | "
            f"{_check(_at_most(value, limit))} |")


def _targets_vs_peer(m: dict[str, float], peer: DbResult | None) -> list[str]:
    p50, p99 = _get(m, "added1_p50"), _get(m, "added1_p99")
    theirs = _get(peer.metrics, "peer_added1_p50") if peer is not None else None
    factor = TARGETS22["added1_p50_vs_peer_p50"]
    against = "LiteLLM not run" if theirs is None else f"LiteLLM p50 {_fmt(theirs)} ms"
    bound50 = None if theirs is None else factor * theirs
    bound99 = None if theirs is None else TARGETS22["added1_p99_vs_peer_p50"] * theirs
    return [f"| 2. added TTFT p50 ≤ {factor}× LiteLLM's p50, 1 stream | ours {_fmt(p50)} ms vs "
            f"{against} (ratio {_ratio(p50, theirs)}) | {_check(_at_most(p50, bound50))} |",
            f"| 2. added TTFT p99 ≤ LiteLLM's p50, 1 stream | ours {_fmt(p99)} ms vs {against} "
            f"(ratio {_ratio(p99, theirs)}) | {_check(_at_most(p99, bound99))} |"]


def _target_token_cpu(m: dict[str, float], plan: Plan) -> str:
    limit = TARGETS22["cpu_us_per_token_long"]
    value = _get(m, "cpu_us_per_token_long")
    idle = _get(m, "idle_us_per_token_sequential")
    return (f"| 3. server CPU per streamed token ≤ {limit:.0f} µs (long replies, turn cost "
            f"excluded) | {_fmt(value)} µs ({plan.long_turns} sequential × {LONG_TOKENS:,} "
            f"tokens, of which the idle process's {_fmt(idle)} µs; {plan.long_conc} at once: "
            f"{_fmt(_get(m, 'cpu_us_per_token_long_conc'))} µs) | "
            f"{_check(_at_most(value, limit))} |")


def _target_capacity(m: dict[str, float]) -> str:
    want, bound = TARGETS22["capacity_streams"], TARGETS["added100_p99"]
    best = _get(m, "capacity_streams")
    ok = None if best is None else best >= want
    return (f"| 4. ≥ {want} simultaneous sends (200 tokens) with added TTFT p99 ≤ {bound:.0f} ms, "
            f"one process | {'-' if best is None else int(best)} (p99 at {want}: "
            f"{_fmt(_get(m, f'capacity_p99_{want}'))} ms) | {_check(ok)} |")


def _target_slow(slow: slow_streams.SlowResult | None) -> str:
    head = (f"| 5. slow streams: 0 errors, added inter-token p99 ≤ "
            f"{slow_streams.TARGET_ADDED_ITL_P99_MS:.0f} ms |")
    if slow is None:
        return head + " not run | n/a |"
    return (f"{head} {slow.errors} errors, p99 {_fmt(slow.added_p99_ms)} ms (once all had "
            f"started: {_fmt(slow.settled_p99_ms)} ms; {slow.streams} × "
            f"{slow.seconds:.0f} s + {slow.ws_idle} idle WS); RSS {_fmt(slow.kib_per_stream)} KiB "
            f"per open stream; event log {slow.rows_per_s:,.0f} rows/s, "
            f"{slow.bytes_per_s / 1024:,.0f} KiB/s | {_check(slow.met)} |")


def _target_guarantees(m: dict[str, float], plan: Plan) -> str:
    stored, checked = _get(m, "lost_stored"), _get(m, "lost_checked")
    ratio, limit = _get(m, "history_ratio"), TARGETS22["history_ratio"]
    started, busy = _get(m, "busy_started"), _get(m, "busy_409")
    parts = [None if checked is None or stored is None else checked > 0 and stored == checked,
             _at_most(ratio, limit),
             None if started is None or busy is None
             else started == 1 and busy == BUSY_SENDS - 1]
    ok = None if None in parts else all(parts)
    largest, smallest = plan.history[-1], plan.history[0]
    return (f"| 6. unchanged guarantees: nothing lost, history O(window), one turn per session | "
            f"nothing lost: {_int(stored)} of {_int(checked)} replies stored as streamed; "
            f"history {largest:,} / {smallest:,} messages {_fmt(ratio)}× (≤ {limit}); one turn "
            f"per session: {_int(started)} started, {_int(busy)} × 409 session_busy of "
            f"{BUSY_SENDS} sends | {_check(ok)} |")


def _int(value: float | None) -> str:
    return "-" if value is None else str(int(value))


def targets_issue8(result: DbResult, peer: DbResult | None) -> str:
    """The issue 8 targets that issue 22 did not replace (its 1-stream and capacity rows are
    targets 2 and 4 now, the history ratio is part of target 6)."""
    m = result.metrics
    lines = ["| target | measured | |", "|---|---|---|"]
    for key, label in (("added1_p50", "added TTFT p50 ≤ 10 ms, 1 stream"),
                       ("added1_p99", "added TTFT p99 ≤ 50 ms, 1 stream"),
                       ("added100_p99", "added TTFT p99 ≤ 100 ms, 100 concurrent")):
        lines.append(f"| {label} | {_fmt(_get(m, key))} ms | "
                     f"{_check(_at_most(_get(m, key), TARGETS[key]))} |")
    errs = _get(m, "conc_errors")
    lines.append(f"| 0 errors, 200 concurrent streams, one process | {_int(errs)} | "
                 f"{_check(None if errs is None else errs == 0)} |")
    if peer is not None and "peer_added100_p99" in peer.metrics:
        p = peer.metrics
        ours100, theirs100 = _get(m, "added100_p99"), _get(p, "peer_added100_p99")
        lines.append(f"| added TTFT p99 no worse than LiteLLM (100 concurrent) | ours "
                     f"{_fmt(ours100)} vs LiteLLM {_fmt(theirs100)} ms (ratio "
                     f"{_ratio(ours100, theirs100)}) | {_check(_at_most(ours100, theirs100))} |")
        ours_t, theirs_t = _get(m, "conc_tok_s"), _get(p, "peer_conc_tok_s")
        lines.append(f"| throughput at 200 concurrent vs LiteLLM | ours {_fmt(ours_t)} vs LiteLLM "
                     f"{_fmt(theirs_t)} tok/s (ratio {_ratio(ours_t, theirs_t)}) | |")
    return "\n".join(lines)


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return "-"
    return f"{a / b:.2f}×"


WAKE_PROBE = """
import asyncio, uvloop
def ran():  # this thread's time on a CPU (ns, exact: the scheduler's, not ticks)
    return int(open("/proc/thread-self/schedstat").read().split()[0])
async def main():
    for ms, n in ((1, 1000), (5, 500), (20, 150), (100, 30)):
        start = ran()
        for _ in range(n):
            await asyncio.sleep(ms / 1000)
        print(ms, (ran() - start) / n / 1000)
uvloop.run(main())
"""


def wake_costs_us() -> dict[int, float]:
    """CPU (µs) one wake-up of an idle uvloop process costs on this machine, by how long it
    slept (ms). The floor under any per-token cost when tokens arrive one at a time; on a
    VM it grows with the idle time before it (caches and TLBs gone cold)."""
    with contextlib.suppress(Exception):
        out = subprocess.run([str(stack.VENV_BIN / "python"), "-c", WAKE_PROBE],
                             capture_output=True, text=True, timeout=120).stdout
        return {int(a): float(b) for a, b in (line.split() for line in out.splitlines())}
    return {}


def machine() -> str:
    cpu = Path("/proc/cpuinfo").read_text()
    models = [line.split(":", 1)[1].strip() for line in cpu.splitlines()
              if line.startswith("model name")]
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    versions = []
    for pkg in ("Django", "channels", "channels-redis", "uvicorn", "uvloop", "httptools",
                "psycopg", "openai", "httpx", "websockets", "redis"):
        with contextlib.suppress(Exception):
            import importlib.metadata as md

            versions.append(f"{pkg} {md.version(pkg)}")
    pg = redis_v = "-"
    with contextlib.suppress(Exception):
        pg = subprocess.run(["psql", stack.PG_ADMIN + "/postgres", "-Atc", "show server_version"],
                            capture_output=True, text=True, timeout=10).stdout.strip() or "-"
    with contextlib.suppress(Exception):
        import redis

        redis_v = str(redis.Redis.from_url(stack.REDIS).info("server")["redis_version"])
    wakes = ", ".join(f"{slept} ms: {cost:,.0f} µs" for slept, cost in wake_costs_us().items())
    return "\n".join([
        f"- CPU: {models[0] if models else '?'} × {len(models)} logical CPUs "
        f"(load driver, fake model, server and peer share them)",
        f"- Memory: {mem}",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()}; {', '.join(versions)}",
        f"- PostgreSQL {pg}, Redis {redis_v}",
        f"- One wake-up of an idle event loop costs, after sleeping {wakes}, of CPU "
        f"(`bench.run.WAKE_PROBE`: uvloop sleeps, the thread's scheduler time): a stream "
        f"whose tokens arrive one at a time cannot cost less per token than that",
    ])


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=stack.ROOT, capture_output=True,
                          text=True).stdout.strip()


def write_results(report: str) -> None:
    """Replace the latest-run part of RESULTS.md; keep the Before/after and Context
    strategies (bench/context_strategies.py) sections and the history."""
    kept: list[str] = []
    history_rows: list[str] = []
    if RESULTS.exists():
        text = RESULTS.read_text()
        sections = text.split("\n## ")
        for section in sections[1:]:
            title = section.split("\n", 1)[0]
            if title.lower().startswith(("before/after", "context strategies")):
                kept.append("## " + section.rstrip())
            elif title.lower().startswith("run history"):
                history_rows = [line for line in section.splitlines()[3:]
                                if line.startswith("|") and not line.startswith("|---")]
    RESULTS.write_text(report.rstrip() + "\n\n" + "\n\n".join(kept) + ("\n\n" if kept else "")
                       + "## Run history\n\n" + HISTORY_HEADER + "\n"
                       + "\n".join(_NEW_HISTORY + history_rows) + "\n")


HISTORY_HEADER = ("| date | revision | mode | db | added p50 / p99 (1) ms | added p99 (100) ms "
                  "| errors @200 | TTFT p99 @200 ms | tok/s @200 | µs CPU/token | history "
                  "100k/10 | KiB/idle socket | LiteLLM added p50 / p99(100) ms "
                  "| ms CPU/turn (20 tok) | µs CPU/token (long) |\n"
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
_NEW_HISTORY: list[str] = []


def history_row(date: str, rev: str, mode: str, result: DbResult, peer: DbResult | None) -> str:
    m = result.metrics
    p = peer.metrics if peer else {}

    def f(key: str, src: dict[str, float] = m) -> str:
        value = src.get(key)
        return "-" if value is None else _fmt(value)

    return (f"| {date} | {rev} | {mode} | {result.db} | {f('added1_p50')} / {f('added1_p99')} | "
            f"{f('added100_p99')} | {f('conc_errors')} | {f('conc_ttft_p99')} | "
            f"{f('conc_tok_s')} | {f('cpu_us_per_token')} | {f('history_ratio')} | "
            f"{f('ws_kib_per_socket')} | {f('peer_added1_p50', p)} / "
            f"{f('peer_added100_p99', p)} | {f('cpu_ms_per_turn20')} | "
            f"{f('cpu_us_per_token_long')} |")


# --- main -------------------------------------------------------------------------------

def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def app_snapshot(rev: str) -> Path:
    target = Path(tempfile.mkdtemp(prefix="promptrails-rev-"))
    archive = subprocess.run(["git", "archive", rev], cwd=stack.ROOT, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


async def main_async(args: argparse.Namespace) -> int:
    plan = Plan.make(args.quick, smoke=args.smoke)
    if args.smoke:
        args.no_write = True  # tiny counts measure nothing worth keeping
    nofile = raise_nofile()  # inherited by the server and the fake model we start
    if nofile < 4 * plan.ws_idle:
        log(f"open-file limit is {nofile}: the {plan.ws_idle}-socket row may fail")
    logdir = Path(tempfile.mkdtemp(prefix="promptrails-bench-logs-"))
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    if "postgres" in dbs and not stack.postgres_reachable():
        log("PostgreSQL or Redis is not reachable at 127.0.0.1: skipping that run")
        dbs.remove("postgres")
    app_dir = app_snapshot(args.rev) if args.rev else (args.app_dir or stack.ROOT).resolve()
    revision = _git("rev-parse", "--short", args.rev or "HEAD")
    if args.app_dir:
        revision = f"tree at {args.app_dir}"
    elif not args.rev and _git("status", "--porcelain", "--untracked-files=no"):
        revision += " + uncommitted changes"
    started = datetime.datetime.now(datetime.UTC)
    log(f"benchmarking {app_dir} ({revision}); logs in {logdir}")
    results: list[DbResult] = []
    slow: list[slow_streams.SlowResult] = []
    peer_result: DbResult | None = None
    try:
        fake = stack.start_fake(tokens=plan.fake_tokens, ttft_ms=plan.ttft_ms,
                                itl_ms=plan.itl_ms, procs=args.fake_procs,
                                log=logdir / "fake.log")
        floor = DbResult(db="fake model")
        await scenario_direct(fake.url, plan, floor)
        for db in dbs:
            results.append(await run_db(db, args, plan, fake, app_dir, logdir))
            log(f"{db} done:\n{table(results[-1].rows)}")  # partial results survive a kill
        for db in dbs:
            streams, seconds, idle = plan.slow
            log(f"{db}: slow streams ({streams} × {seconds:.0f} s, {idle} idle sockets)")
            slow.append(await slow_streams.run(db, streams=streams, seconds=seconds, tps=20.0,
                                               ws_idle=idle, logdir=logdir, app_dir=app_dir))
        if not args.no_peer:
            peer_result = DbResult(db="litellm")
            try:
                log("LiteLLM proxy: starting")
                peer = stack.start_litellm(fake.url, logdir / "litellm.log", logdir)
                await scenario_peer(peer, fake.url, plan, peer_result)
                stack.stop(peer.proc)
            except Exception as exc:  # noqa: BLE001
                log(f"LiteLLM peer failed: {exc}")
                peer_result.error_samples.append(f"LiteLLM peer could not run: {exc}"[:400])
    finally:
        stack.stop_all()
        if args.rev:
            import shutil

            shutil.rmtree(app_dir, ignore_errors=True)

    command = "python -m bench.run " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    date = started.strftime("%Y-%m-%d %H:%M UTC")
    elapsed = (datetime.datetime.now(datetime.UTC) - started).total_seconds()
    out = [
        "# Benchmark results",
        "",
        f"Latest run: `{command.strip()}` on {date} ({'quick' if plan.quick else 'full'}; "
        f"took {elapsed:.0f} s), revision {revision}.",
        "",
        "Produced by `bench/run.py` (issues 8 and 22). Everything runs on this one machine: one "
        "uvicorn process under test, the lean fake model (`bench/fake_model.py`: "
        f"{plan.fake_tokens} tokens, TTFT {plan.ttft_ms:.0f} ms, {plan.itl_ms:.0f} ms between "
        f"tokens, {args.fake_procs} process(es)), the LiteLLM proxy peer (1 worker) and the "
        "load driver (async httpx + websockets). Times are measured at the client. *Added* "
        "TTFT = each request's time to its first content token minus the median time to first "
        "token of the same fake model asked directly at the same concurrency (for one stream, "
        "alternating with it request by request, with 20-token replies). p50/p99 are "
        "linear-interpolated percentiles; errors count HTTP errors, error events, streams "
        "without a terminal event and transport failures. Server CPU is the server process's "
        "user + system time (all threads, /proc) across a batch of turns; CPU per token is "
        f"that of {LONG_TOKENS:,}-token replies minus a 20-token turn's, over the "
        f"{LONG_TOKENS - 20:,} extra tokens.",
        "",
        "## Machine",
        "",
        machine(),
        "",
        "## The model alone",
        "",
        table(floor.rows),
    ]
    for result in results:
        title = {"sqlite": "Embedded default (SQLite, in-memory channel layer)",
                 "postgres": "PostgreSQL + Redis (channels-redis pub/sub layer)"}[result.db]
        slow_here = next((r for r in slow if r.db == result.db), None)
        out += ["", f"## {title}", "", table(result.rows), "", "Targets (issue 22):", "",
                targets(result, peer_result, slow_here, plan), "",
                "Earlier targets (issue 8) not replaced by those:", "",
                targets_issue8(result, peer_result)]
        if result.error_samples:
            out += ["", "First errors: " + "; ".join(f"`{e}`" for e in result.error_samples[:6])]
        if result.profile:
            out += ["", f"### Profile at 100 concurrent streams ({result.db}, py-spy)", "",
                    result.profile]
    if slow:
        out += ["", "## Slow streams (bench/slow_streams.py, issue 22 target 5)", "",
                "A fake model streaming 20 tokens a second (TTFT 300 ms); added inter-token "
                "delay = each gap between two content frames at the client minus 50 ms.", "",
                slow_streams.HEADER, *(r.row() for r in slow)]
        for r in slow:
            out += [f"- {r.db} error: `{e}`" for e in r.error_samples]
    if peer_result is not None:
        out += ["", "## The peer: LiteLLM proxy (same fake model, same run)", ""]
        if peer_result.rows:
            out += [table(peer_result.rows)]
        if peer_result.error_samples:
            out += ["", "Errors: " + "; ".join(f"`{e}`" for e in peer_result.error_samples[:4])]
    report = "\n".join(out)
    print(report)
    if not args.no_write:
        mode = "quick" if plan.quick else "full"
        _NEW_HISTORY.extend(history_row(date, revision, mode, r, peer_result) for r in results)
        write_results(report)
        log(f"wrote {RESULTS}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description="PromptRails streaming benchmarks (issue 8)")
    parser.add_argument("--quick", action="store_true", help="the < 5 minute version")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rev", help="benchmark this git revision instead of the working tree")
    parser.add_argument("--app-dir", type=Path,
                        help="benchmark the project tree at this path (e.g. a patched copy)")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the server during the 100-stream row (bench/profiles/)")
    parser.add_argument("--fake-procs", type=int, default=1)
    parser.add_argument("--no-peer", action="store_true", help="skip the LiteLLM proxy")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # tiny counts
    args = parser.parse_args()
    os.chdir(stack.ROOT)
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
