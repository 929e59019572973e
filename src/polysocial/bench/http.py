"""The HTTP workloads of `polysocial bench`, driven by established load generators in their own processes:

- ``http``: closed loop, as many requests as the server answers, one endpoint at a time (in rounds), with **wrk** (32
  connections, one thread; a Lua script rotates the users' tokens and the ids). Next to it, in the same run and with
  the same server settings, a FastAPI app that answers a fixed page and touches no store (bench/ceiling.py): the
  framework's ceiling, which the feed's figure is divided by.
- ``capacity``: DeathStarBench's social-network mix (60% home feed, 30% user timeline, 10% compose) as an open loop
  with **vegeta** at rising constant rates after a warm-up. The highest rate whose p99 stays at or under 50 ms with no
  error is the figure; the rates after the first that fails are not tried (past saturation latency only grows).

Each report says how much CPU the generator itself used (its share of one core), so that a generator at its limit
would show. Both tools come from the operating system's packages or the Go module proxy (README: benchmarks).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from polysocial.config import Role, Settings
from polysocial.engines.seed_stack import free_port
from polysocial.web.security import SESSION_COOKIE

# wrk's connections for the closed loop: enough requests in flight that the server's cores stay busy, or the figure
# is the client's concurrency, not the server's maximum. At 32 the home feed left a tenth of the two cores idle (its
# requests wait on Redis, one script at a time, and both workers could be waiting at once): 178-187% busy of 200%,
# against 190-194% at 64, and 1.07-1.19x the feeds/s; the fixed page was 198-200% busy at either, at the same rate.
# Every run reports how busy the machine was (``machine_cpu``), so an endpoint that does not fill it shows.
CONNECTIONS = 64
P99_TARGET_MS = 50.0
REQUEST_TIMEOUT_S = 10
WARM_BUDGET_S = 90.0  # for the readers' first reads, before a workload
VEGETA_MODULE = "github.com/tsenart/vegeta/v12@v12.13.0"


# -- stopping: the HTTP workloads run in a thread, and a thread cannot be cancelled ------------------------------------
# Ctrl-C cancels the bench's task, but the thread it waits for would run its remaining rounds to the end (and
# asyncio's shutdown waits for it). ``interrupt()`` ends the load generator now running and makes the next one refuse
# to start; the thread's ``with`` blocks then stop its servers on the way out.

STOP = threading.Event()
_RUNNING: set[subprocess.Popen[str]] = set()
_RUNNING_LOCK = threading.Lock()


class Interrupted(RuntimeError):
    """The bench was interrupted (Ctrl-C): no more load is generated."""


def interrupt() -> None:
    STOP.set()
    with _RUNNING_LOCK:
        for process in _RUNNING:
            process.terminate()


def run_tool(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(command, check=True, capture_output=True, text=True)``, which ``interrupt()`` can end."""
    with _RUNNING_LOCK:
        if STOP.is_set():
            raise Interrupted("the bench was interrupted")
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _RUNNING.add(process)
    try:
        out, err = process.communicate()
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(process)
    if STOP.is_set():
        raise Interrupted("the bench was interrupted")
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, list(command), out, err)
    return subprocess.CompletedProcess(list(command), process.returncode, out, err)


class MissingTool(RuntimeError):
    """A load generator is not installed: the message says how to install it."""


def tool(name: str) -> str:
    found = shutil.which(name) or next(
        (
            str(p)
            for p in (Path.home() / "go" / "bin" / name, Path(os.environ.get("GOBIN", "/nonexistent")) / name)
            if p.exists()
        ),
        None,
    )
    if found is None:
        how = "apt-get install wrk" if name == "wrk" else f"go install {VEGETA_MODULE}"
        raise MissingTool(f"{name} is not installed: {how}")
    return found


def generators_missing() -> list[str]:
    missing = []
    for name in ("wrk", "vegeta"):
        try:
            tool(name)
        except MissingTool as exc:
            missing.append(str(exc))
    return missing


# -- servers ----------------------------------------------------------------------------------------------------------


def _tree_cpu_s(pids: Sequence[int]) -> float:
    """CPU seconds used so far by these processes and all their children."""
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            family = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for p in family:
            with contextlib.suppress(psutil.Error):
                times = p.cpu_times()
                total += times.user + times.system
    return total


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    base: str
    others: list[subprocess.Popen[bytes]] = field(default_factory=list)  # a topology's other processes

    def cpu_s(self) -> float:
        """CPU seconds used so far by the server and its workers (and, for a topology, every process of it)."""
        return _tree_cpu_s([self.process.pid, *(p.pid for p in self.others)])


def _server_env(settings: Settings | None, workers: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYSOCIAL_")}
    env["POLYSOCIAL_WORKERS"] = str(workers)
    if settings is not None:
        env.update({f"POLYSOCIAL_{role.value.upper()}_URL": settings.store_url(role).url for role in Role})
        env.update({"POLYSOCIAL_PROFILE": settings.profile.value, "POLYSOCIAL_DATA_DIR": str(settings.data_dir)})
        if settings.relational_replica_urls is not None:
            env["POLYSOCIAL_RELATIONAL_REPLICA_URLS"] = settings.relational_replica_urls.get_secret_value()
    return env


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@contextlib.contextmanager
def running(command: Sequence[str], env: dict[str, str], ready_path: str, log: Path) -> Iterator[RunningServer]:
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen([*command, "--port", str(port)], env=env, stdout=out, stderr=out)
    server = RunningServer(process, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited during start-up: {log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(server.base + ready_path, timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start within 120 s")
            time.sleep(0.2)
        yield server
    finally:
        _stop(process)


def polysocial_server(settings: Settings, workers: int, log: Path) -> contextlib.AbstractContextManager[RunningServer]:
    return running([sys.executable, "-m", "polysocial", "serve"], _server_env(settings, workers), "/health/live", log)


NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream polysocial {{
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://polysocial;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
}}
"""


@contextlib.contextmanager
def topology(settings: Settings, logs: Path, *, servers: int = 2, relays: int = 2) -> Iterator[RunningServer]:
    """Several machines' worth of processes on this one: ``servers`` `polysocial serve` processes (one worker each,
    the relay left to the workers) behind nginx, and ``relays`` `polysocial worker` processes. The stores are what
    ``settings`` name (the cluster variant: a Redis Cluster, a PostgreSQL primary and replica). Its CPU is every
    process's, nginx's included."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        raise RuntimeError("nginx is not installed (Debian: apt-get install nginx-light)")
    env = _server_env(settings, 1) | {"POLYSOCIAL_RELAY_IN_PROCESS": "false"}
    with contextlib.ExitStack() as stack:
        apis = [
            stack.enter_context(
                running([sys.executable, "-m", "polysocial", "serve"], env, "/health/live", logs / f"serve-{i}.log")
            )
            for i in range(servers)
        ]
        others = [api.process for api in apis]
        for i in range(relays):
            out = stack.enter_context((logs / f"worker-{i}.log").open("ab"))
            worker = subprocess.Popen([sys.executable, "-m", "polysocial", "worker"], env=env, stdout=out, stderr=out)
            stack.callback(_stop, worker)
            others.append(worker)
        folder = logs / "nginx"
        folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        upstreams = "\n".join(f"        server {api.base.removeprefix('http://')};" for api in apis)
        conf = folder / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=folder, servers=upstreams, port=port))
        out = stack.enter_context((logs / "nginx.log").open("ab"))
        proxy = subprocess.Popen([nginx, "-c", str(conf), "-g", "daemon off;"], stdout=out, stderr=out)
        stack.callback(_stop, proxy)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/health/live", timeout=2).status_code == 200:
                    break
            if proxy.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {(folder / 'nginx-error.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield RunningServer(proxy, base, others)


def ceiling_server(workers: int, log: Path) -> contextlib.AbstractContextManager[RunningServer]:
    command = [sys.executable, "-m", "polysocial.bench.ceiling", "--workers", str(workers)]
    return running(command, _server_env(None, workers), "/feed", log)


# -- who sends what ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Audience:
    """Signed-in users and the ids the requests name."""

    tokens: list[str]
    authors: list[int]  # users whose timelines are read
    posts: list[str]  # posts that are read

    @classmethod
    def sign_in(
        cls,
        base: str,
        accounts: Sequence[tuple[int, str]],
        password: str,
        posts: Sequence[str],
        readers: int,
        seed: int,
    ) -> Audience:
        rng = random.Random(seed)  # noqa: S311 - a reproducible sample
        chosen = rng.sample(list(accounts), min(readers, len(accounts)))
        tokens = []
        with httpx.Client(base_url=base, timeout=60) as client:
            for _, email in chosen:
                login = client.post("/auth/login", json={"email": email, "password": password})
                login.raise_for_status()
                tokens.append(login.json()["access_token"])
            # Each reader's first read builds their timeline: not what is measured. Bounded: on a store that
            # rebuilds slowly (FerretDB) the readers left cold are slow in the measured run too, as they would be.
            deadline = time.monotonic() + WARM_BUDGET_S
            for token in tokens:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                with contextlib.suppress(httpx.HTTPError):
                    client.get("/feed", headers={"Authorization": f"Bearer {token}"}, timeout=min(30.0, left))
        authors = [user for user, _ in rng.sample(list(accounts), min(1_000, len(accounts)))]
        return cls(tokens, authors, rng.sample(list(posts), min(1_000, len(posts))))


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    token: str | None
    body: dict[str, Any] | None = None
    cookie: bool = False  # the token as the web client's session cookie, not a bearer header

    def auth_header(self) -> tuple[str, str] | None:
        if not self.token:
            return None
        if self.cookie:
            return "Cookie", f"{SESSION_COOKIE}={self.token}"
        return "Authorization", f"Bearer {self.token}"


def requests_for(endpoint: str, audience: Audience, n: int, seed: int) -> list[Request]:
    rng = random.Random(f"{seed}-{endpoint}")  # noqa: S311 - reproducible
    made = []
    for i in range(n):
        token = audience.tokens[i % len(audience.tokens)]
        if endpoint == "feed":
            made.append(Request("GET", "/feed?limit=20", token))
        elif endpoint == "home page":  # the web client's home timeline: the same 20 posts, as HTML
            made.append(Request("GET", "/web/home", token, cookie=True))
        elif endpoint == "user timeline":
            made.append(Request("GET", f"/users/{rng.choice(audience.authors)}/posts?limit=20", token))
        elif endpoint == "post":
            made.append(Request("GET", f"/posts/{rng.choice(audience.posts)}", token))
        elif endpoint == "wallet":
            made.append(Request("GET", "/wallet", token))
        elif endpoint == "suggestions":
            made.append(Request("GET", "/users/me/suggestions?limit=10", token))
        elif endpoint == "compose":
            made.append(Request("POST", "/posts", token, {"text": f"a post from the benchmark, number {i}"}))
        elif endpoint == "ceiling":
            made.append(Request("GET", "/feed", None))
        else:
            raise ValueError(f"unknown endpoint {endpoint!r}")
    return made


MIX = (("feed", 60), ("user timeline", 30), ("compose", 10))


def mixed_requests(audience: Audience, n: int, seed: int) -> list[Request]:
    per = {name: iter(requests_for(name, audience, n, seed)) for name, _ in MIX}
    rng = random.Random(f"{seed}-mix")  # noqa: S311 - reproducible
    names = [name for name, weight in MIX for _ in range(weight)]
    return [next(per[rng.choice(names)]) for _ in range(n)]


# -- wrk: closed loop -------------------------------------------------------------------------------------------------


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for this text (ASCII, escapes)


WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT {\"requests\": %d, \"duration_us\": %d, \"status\": %d, \"timeout\": %d, \"connect\": %d, " ..
    "\"read\": %d, \"write\": %d, \"p50_us\": %d, \"p90_us\": %d, \"p99_us\": %d, \"max_us\": %d}\n",
    summary.requests, summary.duration, e.status, e.timeout, e.connect, e.read, e.write,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def wrk_script(requests: Sequence[Request], host: str) -> str:
    """The requests, formatted once when the script loads. That is before wrk sets its default Host header, so each
    names ``host`` itself: uvicorn alone takes a request without one, a proxy (nginx) answers it 400."""
    lines = ["local requests = {}"]
    for r in requests:
        headers = [f'["Host"] = {_lua_string(host)}']
        if r.body is not None:
            headers.append('["Content-Type"] = "application/json"')
        if (auth := r.auth_header()) is not None:
            headers.append(f"[{_lua_string(auth[0])}] = {_lua_string(auth[1])}")
        body = _lua_string(json.dumps(r.body)) if r.body is not None else "nil"
        lines.append(
            f"requests[#requests + 1] = wrk.format({_lua_string(r.method)}, {_lua_string(r.path)}, "
            f"{{{', '.join(headers)}}}, {body})"
        )
    lines += [
        "local i = 0",
        "request = function()",
        "  i = i + 1",
        "  return requests[(i % #requests) + 1]",
        "end",
        WRK_DONE,
    ]
    return "\n".join(lines)


@dataclass
class Measured:
    """What every run reports: latency, requests and errors, and both sides' CPU (a share of one core)."""

    p50_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: int
    generator_cpu: float
    server_cpu: float  # the server's, all its workers'

    def figures(self) -> dict[str, Any]:
        return {
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "max_ms": round(self.max_ms, 3),
            "requests": self.requests,
            "errors": self.errors,
            "generator_cpu_cores": round(self.generator_cpu, 2),
            "server_cpu_cores": round(self.server_cpu, 2),
        }


@dataclass
class Closed(Measured):
    """One closed-loop run: the requests/s the server answered."""

    per_s: float = 0.0
    p90_ms: float = 0.0
    machine_cpu: float = 0.0  # cores busy on the whole machine (server, stores, wrk, anything else), on average

    def figures(self) -> dict[str, Any]:
        return {
            "ops_per_s": round(self.per_s, 1),
            "p90_ms": round(self.p90_ms, 3),
            **super().figures(),
            "machine_busy_cores": round(self.machine_cpu, 2),
        }


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine_busy_s() -> float:
    """CPU seconds every core of the machine has spent busy (neither idle nor waiting for I/O), since boot."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def wrk(server: RunningServer, requests: Sequence[Request], seconds: float, connections: int = CONNECTIONS) -> Closed:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(wrk_script(requests, server.base.removeprefix("http://")))
    try:
        server_before, own_before, started = server.cpu_s(), _children_cpu_s(), time.perf_counter()
        machine_before = _machine_busy_s()
        done = run_tool(
            [
                tool("wrk"),
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                f"--timeout={REQUEST_TIMEOUT_S}s",
                "-s",
                script.name,
                server.base,
            ]
        )
        wall = time.perf_counter() - started
        generator = (_children_cpu_s() - own_before) / wall
        server_cpu = (server.cpu_s() - server_before) / wall
        machine = (_machine_busy_s() - machine_before) / wall
    finally:
        os.unlink(script.name)
    found = re.search(r"^RESULT (\{.*\})$", done.stdout, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk printed no result: {done.stdout[-500:]} {done.stderr[-500:]}")
    r = json.loads(found.group(1))
    errors = r["status"] + r["timeout"] + r["connect"] + r["read"] + r["write"]
    return Closed(
        per_s=r["requests"] / (r["duration_us"] / 1e6),
        p50_ms=r["p50_us"] / 1000,
        p90_ms=r["p90_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        max_ms=r["max_us"] / 1000,
        requests=r["requests"],
        errors=errors,
        generator_cpu=generator,
        server_cpu=server_cpu,
        machine_cpu=machine,
    )


# -- vegeta: open loop ------------------------------------------------------------------------------------------------


@dataclass
class Step(Measured):
    """One offered rate held for a while, open loop."""

    offered_per_s: float = 0.0
    achieved_per_s: float = 0.0
    status_codes: dict[str, int] = field(default_factory=dict)

    @property
    def holds(self) -> bool:
        return self.errors == 0 and self.p99_ms <= P99_TARGET_MS

    def figures(self) -> dict[str, Any]:
        return {
            "offered_per_s": self.offered_per_s,
            "achieved_per_s": round(self.achieved_per_s, 1),
            **super().figures(),
            "status_codes": self.status_codes,
        }


def vegeta_targets(base: str, requests: Sequence[Request]) -> str:
    lines = []
    for r in requests:
        target: dict[str, Any] = {"method": r.method, "url": base + r.path, "header": {}}
        if (auth := r.auth_header()) is not None:
            target["header"][auth[0]] = [auth[1]]
        if r.body is not None:
            target["header"]["Content-Type"] = ["application/json"]
            target["body"] = base64.b64encode(json.dumps(r.body).encode()).decode()
        lines.append(json.dumps(target))
    return "\n".join(lines) + "\n"


def vegeta(server: RunningServer, requests: Sequence[Request], rate: float, seconds: float) -> Step:
    """Offer ``rate`` requests/s for ``seconds`` (the targets cycle), open loop: vegeta sends on schedule whether or
    not earlier requests have come back, adding workers as needed."""
    with tempfile.TemporaryDirectory(prefix="polysocial-vegeta-") as folder:
        targets = Path(folder) / "targets.json"
        targets.write_text(vegeta_targets(server.base, requests))
        results = Path(folder) / "results.bin"
        server_before, own_before, started = server.cpu_s(), _children_cpu_s(), time.perf_counter()
        run_tool(
            [
                tool("vegeta"),
                "attack",
                "-format=json",
                f"-targets={targets}",
                f"-rate={round(rate)}/s",
                f"-duration={max(1, round(seconds))}s",
                f"-timeout={REQUEST_TIMEOUT_S}s",
                "-max-connections=512",
                f"-output={results}",
            ]
        )
        wall = time.perf_counter() - started
        generator = (_children_cpu_s() - own_before) / wall
        server_cpu = (server.cpu_s() - server_before) / wall
        report = run_tool([tool("vegeta"), "report", "-type=json", str(results)])
    r = json.loads(report.stdout)
    latencies = r["latencies"]
    codes = {str(k): int(v) for k, v in (r.get("status_codes") or {}).items()}
    ok = sum(v for k, v in codes.items() if k.startswith("2"))
    return Step(
        offered_per_s=rate,
        achieved_per_s=float(r.get("throughput") or 0.0),
        p50_ms=latencies["50th"] / 1e6,
        p99_ms=latencies["99th"] / 1e6,
        max_ms=latencies["max"] / 1e6,
        requests=int(r["requests"]),
        errors=int(r["requests"]) - ok,
        generator_cpu=generator,
        server_cpu=server_cpu,
        status_codes=codes,
    )


def capacity(
    server: RunningServer,
    requests: Sequence[Request],
    rates: Sequence[float],
    seconds: float,
    warmup_s: float,
    on_step: Any = None,
) -> list[Step]:
    """The rising rates, after a warm-up at the first; stops after the first rate that does not hold."""
    vegeta(server, requests, rates[0], warmup_s)
    steps = []
    for rate in rates:
        step = vegeta(server, requests, rate, seconds)
        steps.append(step)
        if on_step is not None:
            on_step(step)
        if not step.holds:
            break
    return steps


def max_sustained(steps: Sequence[Step]) -> float:
    """The highest offered rate that held p99 <= 50 ms with no error (0 when none did)."""
    return max((s.offered_per_s for s in steps if s.holds), default=0.0)
