"""Reusable parts of the HTTP benchmarks: a real server, a load driver and a bare baseline.

- :func:`serve` runs an ASGI app (an import string) under uvicorn in a child process on a free
  port and yields its base URL once it answers, so the numbers include real HTTP and a process
  boundary, as in production.
- :func:`drive` sends requests from a pool of concurrent httpx workers, for a count or a
  duration, and returns the rate and latency percentiles.
- :data:`bare_app` is the baseline: FastAPI with nothing behind it (a GET JSON endpoint and a
  POST JSON echo endpoint), driven by the same client in the same run, so a service's figure
  is read as a ratio of what FastAPI + uvicorn + the client manage on this machine at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

# (client, index of the request, 0-based) → the response; the index makes unique ids easy.
Request = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerFailed(RuntimeError):
    """The child server exited or never answered; the message carries its log's tail."""


@contextlib.asynccontextmanager
async def serve(
    app: str,
    *,
    factory: bool = False,
    env: Mapping[str, str] | None = None,
    ready_path: str = "/healthz",
    timeout_s: float = 60.0,
) -> AsyncIterator[str]:
    """Run `app` (e.g. ``"bench.baseline:bare_app"``) under uvicorn in a child process.

    Yields the base URL once `GET ready_path` answers 200; stops the child on exit (SIGTERM,
    then SIGKILL after 10 s). `factory=True` calls the import string to build the app.
    `env` is added to this process's environment (settings of the served app).
    """
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    if factory:
        command.append("--factory")
    with tempfile.TemporaryFile() as log:
        child = await asyncio.create_subprocess_exec(
            *command,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            await _wait_ready(child, url + ready_path, timeout_s, log)
            yield url
        finally:
            if child.returncode is None:
                child.terminate()
                try:
                    await asyncio.wait_for(child.wait(), 10)
                except TimeoutError:
                    child.kill()
                    await child.wait()


def _tail(log: Any, limit: int = 3000) -> str:
    log.seek(0)
    text: str = log.read().decode(errors="replace")
    return text[-limit:]


async def _wait_ready(
    child: asyncio.subprocess.Process, url: str, timeout_s: float, log: Any
) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            if child.returncode is not None:
                raise ServerFailed(f"server exited with {child.returncode}:\n{_tail(log)}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(url)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise ServerFailed(f"{url} not ready after {timeout_s:.0f} s:\n{_tail(log)}")
            await asyncio.sleep(0.1)


@dataclass
class Load:
    """What a load run achieved: completed requests, wall time, latencies, failures."""

    what: str
    requests: int
    seconds: float
    latencies_s: list[float] = field(repr=False)
    failures: dict[int, int]
    """Status code → count, for responses that did not pass `ok` (not in `requests`)."""

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else float("inf")

    def percentile(self, fraction: float) -> float:
        """Latency (s) below which `fraction` of the successful requests finished."""
        if not self.latencies_s:
            return float("nan")
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def p50_ms(self) -> float:
        return self.percentile(0.50) * 1000

    @property
    def p99_ms(self) -> float:
        return self.percentile(0.99) * 1000

    def line(self, baseline: Load | None = None) -> str:
        text = (
            f"{self.what:<48} {self.per_second:>10,.0f} req/s"
            f"  p50 {self.p50_ms:6.1f} ms  p99 {self.p99_ms:6.1f} ms"
            f"  ({self.requests} in {self.seconds:.2f}s)"
        )
        if self.failures:
            text += f"  FAILED {self.failures}"
        if baseline is not None:
            text += f"   ratio {self.per_second / baseline.per_second:.2f}x of {baseline.what}"
        return text


async def drive(
    what: str,
    client: httpx.AsyncClient,
    request: Request,
    *,
    concurrency: int,
    count: int | None = None,
    duration_s: float | None = None,
    ok: Callable[[httpx.Response], bool] = lambda response: response.is_success,
) -> Load:
    """Send requests from `concurrency` workers until `count` were sent or `duration_s` passed.

    Exactly one of `count` and `duration_s` must be given. Each request gets the next index
    (0, 1, 2, … across all workers). A response `ok` refuses is counted under its status code
    and not in the rate; a transport error propagates (a benchmark against a dead server means
    nothing).
    """
    if (count is None) == (duration_s is None):
        raise ValueError("give exactly one of count and duration_s")
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    latencies: list[float] = []
    failures: dict[int, int] = {}
    next_index = 0
    started = time.perf_counter()
    deadline = started + duration_s if duration_s is not None else float("inf")

    def take() -> int | None:
        nonlocal next_index
        if (count is not None and next_index >= count) or time.perf_counter() >= deadline:
            return None
        index, next_index = next_index, next_index + 1
        return index

    async def worker() -> None:
        while (index := take()) is not None:
            sent = time.perf_counter()
            response = await request(client, index)
            if ok(response):
                latencies.append(time.perf_counter() - sent)
            else:
                failures[response.status_code] = failures.get(response.status_code, 0) + 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Load(what, len(latencies), time.perf_counter() - started, latencies, failures)


def http_client(base_url: str, *, concurrency: int, **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client with one keep-alive connection per worker (no reconnects in the run)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0, **kwargs)


# The baseline: FastAPI and nothing else. Routes are async like the services' own, and return
# JSON through the same response machinery (a pydantic-free dict, the cheapest honest case).
bare_app = FastAPI(title="bench baseline")


@bare_app.get("/healthz")
async def bare_health() -> dict[str, str]:
    return {"status": "ok"}


@bare_app.get("/json")
async def bare_json() -> dict[str, Any]:
    return {"id": "c-1", "name": "Foshan Kaida Packaging", "tags": ["aerosol", "key_account"]}


@bare_app.post("/echo")
async def bare_echo(body: dict[str, Any]) -> dict[str, Any]:
    return body
