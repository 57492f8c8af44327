"""HTTP load generation for the benchmark: wrk when it is there, else a multi-process Python client."""

import http.client
import json
import multiprocessing
import os
import shutil
import subprocess
import threading
import time
import urllib.parse
from dataclasses import asdict, dataclass
from typing import Protocol

LUA_REPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wrk_report.lua")
REQUEST_TIMEOUT_SECONDS = 10


@dataclass
class LoadResult:
    url: str
    seconds: float  # measured, not requested
    concurrency: int
    responses: int  # every complete HTTP response, whatever its status
    non200: int
    socket_errors: int  # connect, read, write errors and timeouts: requests with no response
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None

    @property
    def errors(self) -> int:
        return self.non200 + self.socket_errors

    @property
    def ok_rps(self) -> float:
        """Throughput counts 200 answers only, so a fast error page cannot pass for speed."""
        return (self.responses - self.non200) / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "errors": self.errors, "ok_rps": round(self.ok_rps, 1)}


class Generator(Protocol):
    name: str

    def run(self, url: str, seconds: int, concurrency: int, headers: dict[str, str] | None = None) -> LoadResult:
        """Load `url` with GET requests carrying `headers` (e.g. Authorization) on every request."""
        ...


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[int(rank) - 1]


class WrkGenerator:
    # One wrk thread drives 16 keep-alive connections far faster than Python servers answer, and
    # leaves the second core to the processes under test.
    THREADS = 1

    def __init__(self, path: str):
        self.path = path
        probe = subprocess.run([path, "-v"], check=False, capture_output=True, text=True)
        version = (probe.stdout or probe.stderr).split("[")[0].strip() or "wrk"
        self.name = f"{version} ({self.THREADS} thread, Lua report)"

    def run(self, url: str, seconds: int, concurrency: int, headers: dict[str, str] | None = None) -> LoadResult:
        header_args = [arg for name, value in (headers or {}).items() for arg in ("-H", f"{name}: {value}")]
        command = [
            self.path,
            "-t",
            str(self.THREADS),
            "-c",
            str(concurrency),
            "-d",
            f"{seconds}s",
            "--timeout",
            f"{REQUEST_TIMEOUT_SECONDS}s",
            "-s",
            LUA_REPORT,
            *header_args,
            url,
        ]
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=seconds + 60)
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK_REPORT ")), None)
        if done.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
        raw = json.loads(line.split(" ", 1)[1])
        # wrk leaves latency at zero when no request completed.

        def ms(us: float) -> float | None:
            return round(us / 1000, 2) if raw["requests"] else None

        return LoadResult(
            url=url,
            seconds=raw["duration_us"] / 1e6,
            concurrency=concurrency,
            responses=raw["requests"],
            non200=raw["non200"],
            socket_errors=raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"],
            p50_ms=ms(raw["p50_us"]),
            p90_ms=ms(raw["p90_us"]),
            p99_ms=ms(raw["p99_us"]),
            max_ms=ms(raw["max_us"]),
            mean_ms=ms(raw["mean_us"]),
        )


def _connection_loop(
    host: str, port: int, path: str, headers: dict[str, str], start_at: float, stop_at: float, out: list
) -> None:
    latencies: list[float] = []
    non200 = errors = 0
    connection: http.client.HTTPConnection | None = None
    time.sleep(max(0.0, start_at - time.monotonic()))
    while True:
        if connection is None:
            connection = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT_SECONDS)
        started = time.monotonic()
        if started >= stop_at:
            break
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            if time.monotonic() < stop_at:
                errors += 1
            connection.close()
            connection = None
            time.sleep(0.01)  # a refused connection must not turn into a busy loop
            continue
        finished = time.monotonic()
        if finished > stop_at:
            break
        latencies.append(finished - started)
        if response.status != 200:
            non200 += 1
        if response.will_close:
            connection.close()
            connection = None
    if connection is not None:
        connection.close()
    out.append((latencies, non200, errors))


def _process_main(
    host: str,
    port: int,
    path: str,
    headers: dict[str, str],
    connections: int,
    start_at: float,
    stop_at: float,
    queue: multiprocessing.Queue,
) -> None:
    out: list = []
    threads = [
        threading.Thread(target=_connection_loop, args=(host, port, path, headers, start_at, stop_at, out))
        for _ in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies = [value for lat, _, _ in out for value in lat]
    queue.put((latencies, sum(n for _, n, _ in out), sum(e for _, _, e in out)))


class PythonGenerator:
    """Keep-alive http.client connections on threads, spread over processes to sidestep the GIL."""

    def __init__(self, processes: int):
        self.processes = processes
        self.name = f"python http.client ({processes} processes x threads, keep-alive)"

    def run(self, url: str, seconds: int, concurrency: int, headers: dict[str, str] | None = None) -> LoadResult:
        parsed = urllib.parse.urlsplit(url)
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        processes = max(1, min(self.processes, concurrency))
        shares = [concurrency // processes + (1 if i < concurrency % processes else 0) for i in range(processes)]
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        # Every connection starts and stops on the same clock (CLOCK_MONOTONIC is system-wide); the lead-in
        # lets every process and thread be ready by start_at.
        start_at = time.monotonic() + 0.2
        stop_at = start_at + seconds
        workers = [
            context.Process(
                target=_process_main,
                daemon=True,
                args=(parsed.hostname, parsed.port or 80, path, dict(headers or {}), share, start_at, stop_at, queue),
            )
            for share in shares
        ]
        for worker in workers:
            worker.start()
        try:
            parts = [queue.get(timeout=seconds + REQUEST_TIMEOUT_SECONDS + 30) for _ in workers]
        finally:
            for worker in workers:
                worker.join(timeout=5)
                if worker.is_alive():
                    worker.kill()
        latencies = sorted(value for lat, _, _ in parts for value in lat)

        def ms(value: float | None) -> float | None:
            return round(value * 1000, 2) if value is not None else None

        return LoadResult(
            url=url,
            seconds=stop_at - start_at,
            concurrency=concurrency,
            responses=len(latencies),
            non200=sum(n for _, n, _ in parts),
            socket_errors=sum(e for _, _, e in parts),
            p50_ms=ms(percentile(latencies, 50)),
            p90_ms=ms(percentile(latencies, 90)),
            p99_ms=ms(percentile(latencies, 99)),
            max_ms=ms(latencies[-1] if latencies else None),
            mean_ms=ms(sum(latencies) / len(latencies) if latencies else None),
        )


def find_wrk() -> str | None:
    """wrk on the PATH, installed from the OS packages when we are root and it is missing."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "wrk"]
    for attempt in ([install], [["apt-get", "update", "-qq"], install]):
        try:
            for command in attempt:
                subprocess.run(command, check=True, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
            continue
        if shutil.which("wrk"):
            break
    return shutil.which("wrk")


def choose_generator(preference: str = "auto") -> Generator:
    """`auto` prefers wrk; `python` forces the fallback; `wrk` insists on wrk."""
    if preference not in ("auto", "wrk", "python"):
        raise ValueError(f"BENCH_GENERATOR must be auto, wrk or python, not {preference!r}")
    if preference != "python":
        wrk = find_wrk()
        if wrk:
            return WrkGenerator(wrk)
        if preference == "wrk":
            raise RuntimeError("wrk is not installed and could not be installed")
    return PythonGenerator(processes=max(1, min(2, os.cpu_count() or 1)))
