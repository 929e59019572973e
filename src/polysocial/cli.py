"""The `polysocial` command. Commands go through bootstrap() and the services; none reaches into a store."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from polysocial import __version__
from polysocial.config import Profile, Settings
from polysocial.domain.errors import PolysocialError
from polysocial.logging import LOG_LEVEL_ENV, configure_logging


def command_group(help_text: str) -> typer.Typer:
    # A crash's traceback never shows local variables: they hold passwords, tokens and URLs with their passwords.
    return typer.Typer(no_args_is_help=True, help=help_text, pretty_exceptions_show_locals=False)


def _flags_take_no_value() -> None:
    """Typer 0.29 labels every option with its value's type in the help, flags too (`--help <bool>`); a flag takes
    no value, so it gets no label. Only the help's rendering changes."""
    from typer.core import TyperOption

    labelled = getattr(TyperOption, "display_type_rich", None)
    if labelled is None:  # a typer without type labels: nothing to change
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else labelled(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_take_no_value()

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="A social platform back end on polyglot persistence.",
    pretty_exceptions_show_locals=False,
)
engines_app = command_group("The embedded engines (PostgreSQL, Redis+FalkorDB).")
seed_app = command_group("The seed stack's test servers (FerretDB, Neo4j, InfluxDB).")
app.add_typer(engines_app, name="engines")
app.add_typer(seed_app, name="seed-stack")

out = Console()
err = Console(stderr=True)
T = TypeVar("T")


def fail(message: str, code: int = 2) -> typer.Exit:
    for line in message.splitlines():
        err.print(f"[bold red]error:[/] {line}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        lines = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e["loc"])
            msg = str(e["msg"]).removeprefix("Value error, ")
            lines.append(f"POLYSOCIAL_{where.upper()}: {msg}" if where else msg)
        raise fail("\n".join(lines)) from None


def guarded(call: Callable[[], T]) -> T:
    """Run a command body; our own errors become one clear line each (no traceback), exit code 2."""
    try:
        return call()
    except PolysocialError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:  # a folder that cannot be made, a file that cannot be read: what and where, in one line
        where = f": {exc.filename}" if exc.filename else ""
        raise fail(f"{exc.strerror or type(exc).__name__}{where}") from None


def with_app(settings: Settings, use: Callable[[Any], Awaitable[T]]) -> T:
    """Bootstrap, run ``use(app)``, close; our errors become one line (exit 2)."""
    from polysocial.bootstrap import bootstrap

    async def run() -> T:
        state = await bootstrap(settings)
        try:
            return await use(state)
        finally:
            await state.aclose()

    return guarded(lambda: asyncio.run(run()))


@app.callback()
def main_options(
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error")] = "warning",
) -> None:
    configure_logging(log_level)
    os.environ[LOG_LEVEL_ENV] = log_level  # for the processes a command starts (serve's workers)


@app.command()
def version() -> None:
    """Print the version."""
    out.print(f"polysocial {__version__}")


# -- engines -------------------------------------------------------------------------------------------------------


def _engine_table(statuses: list[Any]) -> Table:
    table = Table(title="embedded engines")
    for col in ("engine", "state", "pid", "version"):
        table.add_column(col)
    for s in statuses:
        state = "[green]running[/]" if s.running else "[red]stopped[/]"
        table.add_row(s.engine.value, state, str(s.pid or "-"), s.detail)
    return table


def _print_urls(rows: list[tuple[str, str]]) -> None:
    """Each name's URL on a line of its own, whole: a table column cut or folded them at 80 columns, and a URL is
    copied from a terminal."""
    width = max(len(name) for name, _ in rows)
    for name, url in rows:
        out.print(f"{name.ljust(width)}  {url}", soft_wrap=True, highlight=False, markup=False)


def _show_engines(statuses: list[Any]) -> None:
    out.print(_engine_table(statuses))
    _print_urls([(s.engine.value, s.url) for s in statuses])


@engines_app.command("up")
def engines_up(data_dir: Annotated[Path | None, typer.Option(help="default ./.polysocial")] = None) -> None:
    """Start both embedded engines (or find them running) and print where they listen."""
    from polysocial.engines.embedded import EmbeddedEngines

    settings = load_settings(data_dir=data_dir)
    started = time.perf_counter()
    statuses = guarded(lambda: EmbeddedEngines(settings).up(only_needed=False))
    _show_engines(statuses)
    out.print(f"ready in {time.perf_counter() - started:.2f} s, data in {settings.data_path}")


@engines_app.command("down")
def engines_down(data_dir: Annotated[Path | None, typer.Option(help="default ./.polysocial")] = None) -> None:
    """Stop the embedded engines (data stays on disk)."""
    from polysocial.engines.embedded import EmbeddedEngines

    settings = load_settings(data_dir=data_dir)
    out.print(_engine_table(guarded(EmbeddedEngines(settings).down)))


@engines_app.command("status")
def engines_status(data_dir: Annotated[Path | None, typer.Option(help="default ./.polysocial")] = None) -> None:
    """Show whether the embedded engines run. Exit code 1 when one is stopped."""
    from polysocial.engines.embedded import EmbeddedEngines

    settings = load_settings(data_dir=data_dir)
    statuses = EmbeddedEngines(settings).status()
    _show_engines(statuses)
    if not all(s.running for s in statuses):
        raise typer.Exit(1)


# -- doctor --------------------------------------------------------------------------------------------------------


@app.command()
def doctor(
    profile: Annotated[Profile | None, typer.Option(help="override POLYSOCIAL_PROFILE")] = None,
    start: Annotated[bool, typer.Option(help="start the embedded engines the profile needs")] = True,
) -> None:
    """Check every store role of the active profile: engine, version, masked URL, round-trip time.

    Exits non-zero if any role is down.
    """
    from polysocial.bootstrap import start_engines
    from polysocial.services.health import open_and_check
    from polysocial.stores.factory import make_stores
    from polysocial.stores.postgres_pool import PostgresPools

    settings = load_settings(profile=profile)

    async def run() -> list[Any]:
        if start:
            await start_engines(settings)
        pools = PostgresPools(connect_timeout_s=settings.connect_timeout_s)
        stores = make_stores(settings, pools)
        try:
            return await open_and_check(stores.all())
        finally:
            await stores.close()
            await pools.close()

    results = guarded(lambda: asyncio.run(run()))
    table = Table(title=f"polysocial doctor: profile {settings.profile.value}")
    for col in ("role", "status", "engine", "rtt"):
        table.add_column(col, overflow="fold")
    for r in results:
        status = "[green]ok[/]" if r.ok else "[red]down[/]"
        engine = f"{r.engine} {r.version}" + (f" ({r.note})" if r.note else "") if r.ok else (r.error or "")
        rtt = f"{r.rtt_ms:.2f} ms" if r.rtt_ms is not None else "-"
        table.add_row(r.role.value, status, engine, rtt)
    out.print(table)
    _print_urls([(r.role.value, r.masked_url) for r in results])
    down = [r for r in results if not r.ok]
    if down:
        raise fail("\n".join(f"{r.role.value} store unreachable at {r.masked_url}: {r.error}" for r in down), 1)


# -- serve ---------------------------------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default 127.0.0.1 (POLYSOCIAL_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="default 8000 (POLYSOCIAL_PORT)")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="server processes; default one per core (POLYSOCIAL_WORKERS)")
    ] = None,
) -> None:
    """Run the web client and the HTTP API, starting the embedded engines first when the profile needs them."""
    from polysocial.api import server
    from polysocial.bootstrap import bootstrap

    settings = load_settings(host=host, port=port, workers=workers)
    _check_port(settings.host, settings.port)
    guarded(lambda: asyncio.run(_check_startable(settings, bootstrap)))
    count = server.worker_count(settings)
    base = f"http://{settings.host}:{settings.port}"
    out.print(
        f"polysocial {__version__}: profile {settings.profile.value}, {count} worker{'s' if count > 1 else ''}: "
        f"the web client at {base}/, the API's documentation at {base}/docs"
    )
    server.serve(settings, workers=count)


def _check_port(host: str, port: int) -> None:
    """Bind the address once before announcing it: a port in use is one line naming the flag, not a traceback
    after "serving at"."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise fail(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another with --port "
                "(POLYSOCIAL_PORT) or --host (POLYSOCIAL_HOST)"
            ) from None


async def _check_startable(settings: Settings, bootstrap: Any) -> None:
    """Start engines and open every store once before serving, so a bad URL fails here in one line."""
    state = await bootstrap(settings)
    await state.aclose()


# -- the outbox relay and the projections ---------------------------------------------------------------------------


@app.command()
def worker(
    progress_every: Annotated[
        float, typer.Option(min=1, max=3600, help="seconds between progress lines (printed when anything changed)")
    ] = 10.0,
) -> None:
    """Run the outbox relay alone (set POLYSOCIAL_RELAY_IN_PROCESS=false on the API servers). Ctrl-C stops it."""
    from polysocial.bootstrap import bootstrap

    async def run() -> None:
        state = await bootstrap(load_settings())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        out.print("relay running; Ctrl-C stops it")
        try:
            await asyncio.gather(state.relay.run_forever(stop), _relay_progress(state.relay, stop, progress_every))
        finally:
            await state.aclose()

    guarded(lambda: asyncio.run(run()))


async def _relay_progress(relay: Any, stop: asyncio.Event, every_s: float) -> None:
    """A line every ``every_s`` while anything happens: events delivered, and the outbox's backlog, lag and dead letters
    (a worker that only said "running" left an operator guessing)."""
    last_delivered, last_line = 0, ""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
        try:
            status = await relay.status()
        except PolysocialError as exc:  # a store is down: the relay retries; say so once per change
            line = f"relay waiting: {exc}"
        else:
            outbox = status.outbox
            line = (
                f"outbox: {outbox.pending} pending (oldest {outbox.oldest_age_s:.1f} s), {outbox.dead_letters} dead "
                f"letters, {status.document_pending} document events pending"
            )
        delivered = relay.delivered - last_delivered
        last_delivered = relay.delivered
        if delivered or line != last_line:
            head = f"delivered {delivered} events in {every_s:g} s ({relay.delivered} in all); "
            out.print(head + line, soft_wrap=True, highlight=False)
            last_line = line


def _shown(items: list[Any], limit: int = 20) -> str:
    return ", ".join(map(str, items[:limit])) + (" ..." if len(items) > limit else "")


@app.command()
def reconcile(
    repair: Annotated[bool, typer.Option("--repair/--dry-run", help="fix what is found, or only report it")] = True,
    timeline_sample: Annotated[int, typer.Option(min=0, max=1_000_000, help="home timelines to compare")] = 200,
) -> None:
    """Compare every projection with its source of truth (users in the graph, post counters, a sample of home
    timelines, live carts) and repair the drift. Exit 1 when drift is left."""

    async def run(state: Any) -> Any:
        report = await state.services.operations.reconcile(repair=repair, timeline_sample=timeline_sample)
        return report, await state.relay.status()

    report, status = with_app(load_settings().for_bulk_work(), run)
    users = report.users
    table = Table(title="reconcile" + ("" if repair else " (dry run)"))
    for col in ("projection", "checked", "drift", "repaired", "note"):
        table.add_column(col)
    user_drift = len(users.missing) + len(users.duplicates)
    table.add_row("users -> graph nodes", str(users.users_checked), str(user_drift), str(users.repaired), "")
    for drift in report.projections:
        table.add_row(drift.projection, str(drift.checked), str(len(drift.found)), str(drift.repaired), drift.note)
    out.print(table)
    if users.missing:
        out.print(f"users missing from the graph: {_shown(users.missing)}")
    if users.duplicates:
        out.print(f"users with more than one graph node: {_shown(users.duplicates)}")
    for drift in report.projections:
        if drift.found:
            out.print(f"{drift.projection}: {_shown(drift.found)}")
    repaired = users.repaired + sum(d.repaired for d in report.projections)
    if repair:
        out.print(f"drift: {report.drift} ({repaired} repaired)")
    else:
        out.print(f"drift: {report.drift}. This was a dry run: nothing was repaired (run without --dry-run to repair).")
    out.print(
        f"relay: {status.outbox.pending} outbox events pending (oldest {status.outbox.oldest_age_s:.1f} s), "
        f"{status.outbox.dead_letters} dead letters, {status.document_pending} document events pending"
    )
    if report.drift > repaired:
        raise typer.Exit(1)


@app.command("seed-data")
def seed_data(
    users: Annotated[int, typer.Option(min=2, max=10_000_000, help="accounts")] = 1_000,
    avg_follows: Annotated[int, typer.Option(min=1, max=1_000, help="follows per user (skewed popularity)")] = 20,
    posts: Annotated[int, typer.Option(min=0, max=100_000_000, help="posts, with likes and comments")] = 5_000,
    products: Annotated[int, typer.Option(min=0, max=1_000_000, help="products in the shop")] = 1_000,
    seed: Annotated[int, typer.Option(help="the same seed gives the same network")] = 1,
    password_stdin: Annotated[bool, typer.Option(help="read the accounts' password from standard input")] = False,
) -> None:
    """Build a synthetic social network in the stores: skewed popularity (a few accounts with very many followers),
    profiles, wallets, posts with likes and comments, a shop catalogue. Deterministic in --seed; loaded in bulk."""
    import secrets
    import time

    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from polysocial.synthetic import synthetic_network

    if avg_follows >= users:
        raise fail(f"--avg-follows must be below --users ({users})")
    password = sys.stdin.readline().rstrip("\n") if password_stdin else secrets.token_urlsafe(12)
    started = time.perf_counter()
    columns = (TextColumn("{task.description:<22}"), BarColumn(), TextColumn("{task.completed:>12,} / {task.total:,}"))
    # Generating is one computation with no steps to count: a spinner and then what it made, not a bar at "1 / 1".
    with err.status(f"generating {users:,} users, {avg_follows} follows each, {posts:,} posts (seed {seed})"):
        network = synthetic_network(users, avg_follows, posts, seed=seed, products=products)
    err.print(
        f"generated {network.users:,} users, {len(network.edges):,} follows, {len(network.posts):,} posts, "
        f"{len(network.comments):,} comments in {time.perf_counter() - started:.1f} s; loading",
        highlight=False,
    )
    with Progress(*columns, TimeElapsedColumn(), console=err) as progress:
        tasks: dict[str, TaskID] = {}

        def step(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=max(total, 1))
            progress.update(tasks[stage], completed=done, total=max(total, 1))

        async def load(state: Any) -> Any:
            return await state.services.operations.load_network(network, seed=seed, password=password, step=step)

        loaded = with_app(load_settings().for_bulk_work(), load)
    seconds = time.perf_counter() - started
    out.print(
        f"loaded {loaded.users:,} users, {loaded.follows:,} follows, {loaded.posts:,} posts, "
        f"{loaded.comments:,} comments, {loaded.products:,} products in {seconds:.1f} s"
    )
    out.print(f"accounts: seed{seed}-user1@example.com ... seed{seed}-user{users}@example.com")
    if not password_stdin:
        out.print(f"their password (shown once): {password}")


@app.command()
def demo(
    keep: Annotated[bool, typer.Option(help="keep the engines and the data folder afterwards")] = False,
    cassandra: Annotated[
        bool | None,
        typer.Option(
            help="also run sessions on a three-node Cassandra cluster, one node killed (about 40 s and 3 GB); "
            "default: when `polysocial seed-stack build` has fetched Cassandra"
        ),
    ] = None,
) -> None:
    """Walk through the seed's scenarios on engines started in a fresh data folder: what happened, in which store,
    how long it took. Exits 1 if any scenario does not behave as it should."""
    import asyncio
    import tempfile
    import time
    from pathlib import Path

    from polysocial.bootstrap import bootstrap
    from polysocial.demo import Demo
    from polysocial.engines.embedded import EmbeddedEngines

    _interrupt_on_sigterm()
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="polysocial-demo-"))
    settings = Settings(data_dir=folder / "data")
    engines = EmbeddedEngines(settings)

    if cassandra is None:
        from polysocial.engines import cassandra as cassandra_engine
        from polysocial.engines import seed_stack

        cassandra = "cassandra" not in seed_stack.missing_tools() and (cassandra_engine.build_dir() / "lib").exists()

    async def run() -> Any:
        app = await bootstrap(settings)
        try:
            outcomes = await Demo(app).run()
        finally:
            await app.aclose()
        if cassandra:
            from polysocial.demo import ap_sessions

            outcomes.append(await ap_sessions(folder / "cassandra"))
        return outcomes

    try:
        with err.status("starting engines in a fresh data folder and running the scenarios ..."):
            outcomes = asyncio.run(run())
    finally:
        if not keep:
            engines.down()
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
    table = Table(title=f"polysocial demo ({folder})")
    for col in ("scenario", "stores", "what happened", "ms"):
        table.add_column(col, overflow="fold", justify="right" if col == "ms" else "left")
    for o in outcomes:
        table.add_row(o.scenario, o.stores, o.what if o.ok else f"[red]{o.what}[/]", f"{o.ms:.0f}")
    out.print(table)
    from polysocial.domain.consistency import BY_DATA_TYPE

    guarantees = Table(title="consistency per data type (domain/consistency.py)")
    guarantees.add_column("data")
    guarantees.add_column("guarantee", overflow="fold")
    for kind, rule in BY_DATA_TYPE.items():
        guarantees.add_row(kind, rule)
    out.print(guarantees)
    failed = [o.scenario for o in outcomes if not o.ok]
    seconds = time.perf_counter() - started
    out.print(f"{len(outcomes) - len(failed)} of {len(outcomes)} scenarios as expected in {seconds:.1f} s")
    if failed:
        raise typer.Exit(1)


@app.command()
def bench(
    users: Annotated[int | None, typer.Option(min=100, max=10_000_000, help="accounts [20,000]")] = None,
    avg_follows: Annotated[int | None, typer.Option(min=1, max=1_000, help="follows per user [20]")] = None,
    posts: Annotated[int | None, typer.Option(min=100, max=100_000_000, help="posts [200,000]")] = None,
    seed: Annotated[int | None, typer.Option(help="the same seed gives the same data set [1]")] = None,
    mixed_rate: Annotated[float | None, typer.Option(min=1, max=10_000, help="mixed: requests/s offered [200]")] = None,
    variants: Annotated[
        str, typer.Option(help="comma-separated, of: embedded, seed, postgres-only, cluster, naive")
    ] = "embedded,seed,postgres-only,cluster,naive",
    quick: Annotated[bool, typer.Option(help="a tiny data set and few samples: the report's shape, not figures")] = (
        False
    ),
    output_dir: Annotated[Path, typer.Option(help="where BENCHMARKS.md and benchmarks/ are written")] = Path("."),
) -> None:
    """Run every workload (feed, suggestions, fanout, signup_to_graph, orders, transfers, ingest, trending, mixed)
    on one generated data set for each variant; write BENCHMARKS.md, benchmarks/results.json and the charts."""
    from polysocial.bench.suite import VARIANTS, Sizes, run_bench

    chosen = [v.strip() for v in variants.split(",") if v.strip()]
    unknown = sorted(set(chosen) - set(VARIANTS))
    if unknown or not chosen:
        raise fail(f"--variants: unknown {unknown or 'none given'}; choose from {', '.join(VARIANTS)}")
    given = {"users": users, "avg_follows": avg_follows, "posts": posts, "seed": seed, "mixed_rate": mixed_rate}
    overrides: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    sizes = Sizes.quick(**overrides) if quick else Sizes(**overrides)
    if sizes.avg_follows >= sizes.users:
        raise fail(f"--avg-follows must be below --users ({sizes.users})")
    try:
        import matplotlib  # noqa: F401 - checked before the run, not after it
    except ImportError:
        raise fail("the charts need matplotlib: pip install 'polysocial[bench]'") from None
    if "seed" in chosen:
        from polysocial.engines.seed_stack import missing_tools

        missing = missing_tools()
        if missing:
            raise fail(
                f"the seed variant needs the seed stack: {missing}; run `polysocial seed-stack build`, or "
                "leave it out with --variants embedded,postgres-only,cluster,naive"
            )
    if "cluster" in chosen:
        import shutil

        if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
            raise fail(
                "the cluster variant puts nginx in front of its servers: install it (Debian: apt-get install "
                "nginx-light), or leave the variant out with --variants embedded,seed,postgres-only,naive"
            )
    words = ["polysocial bench", *(["--quick"] if quick else [])]
    words += [
        f"--{k.replace('_', '-')} {v:g}" if isinstance(v, float) else f"--{k.replace('_', '-')} {v}"
        for k, v in overrides.items()
    ]
    if chosen != list(VARIANTS):
        words.append(f"--variants {','.join(chosen)}")
    from polysocial.bench import report

    _interrupt_on_sigterm()
    run = guarded(lambda: run_bench(sizes, chosen))
    written = report.write(run, output_dir, " ".join(words))
    for path in written[:2]:
        out.print(f"wrote {path}")
    out.print(f"wrote {len(written) - 3} charts in {output_dir / 'benchmarks' / 'charts'}")
    if run.failures:
        raise fail("\n".join(["some workloads failed (their cells say so):", *run.failures]), code=1)


report_app = command_group("Reports from the relational store.")
app.add_typer(report_app, name="report")

feeds_app = typer.Typer(help="Home and user timelines (fan-out on write, in Redis).", no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")


@feeds_app.command("rebuild")
def feeds_rebuild(
    user_id: Annotated[int | None, typer.Argument(min=1, help="the user whose timelines to rebuild")] = None,
    every: Annotated[bool, typer.Option("--all", help="every live home timeline (users who read lately)")] = False,
) -> None:
    """Drop timelines and rebuild them from the sources of truth now: one user's home and user timelines, or
    (--all) every live home timeline. A user without a live timeline gets one on their next read anyway."""
    if (user_id is None) == (not every):
        raise fail("give a user id or --all (not both)")

    async def run(state: Any) -> Any:
        operations = state.services.operations
        if user_id is not None:
            return await operations.rebuild_feed(user_id)

        def progress(seen: int, rebuilt: int) -> None:
            err.print(f"{seen:,} users seen, {rebuilt:,} live timelines rebuilt", highlight=False)

        return await operations.rebuild_live_feeds(progress)

    settings = load_settings().for_bulk_work()
    result = with_app(settings, run)
    if result is None:
        out.print("this profile keeps no timelines (feeds are read from the sources of truth): nothing to rebuild")
    elif user_id is not None:
        out.print(f"user {user_id}: home and user timelines rebuilt; the home timeline holds {result} posts")
    else:
        out.print(f"{result:,} live home timelines rebuilt (with their users' own timelines)")


accounts_app = command_group("Accounts across every store: export one, erase one.")
app.add_typer(accounts_app, name="accounts")


@accounts_app.command("export")
def accounts_export(
    user_id: Annotated[int, typer.Argument(min=1, help="the account to export")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write here, not to standard output")] = None,
) -> None:
    """Everything the platform holds about an account, in every store, as one JSON document: the relational rows
    (ledger and orders included), posts, articles, comments and likes, follows both ways, live cart and leaderboard
    scores. Password hashes and session tokens are never in it."""
    import json

    async def run(state: Any) -> Any:
        return await state.services.erasure.export(user_id)

    text = json.dumps(with_app(load_settings(), run), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write --output {output}: {exc.strerror}") from None
    err.print(f"wrote the export of user {user_id} to {output} ({len(text):,} bytes)", highlight=False)


@accounts_app.command("delete")
def accounts_delete(
    user_id: Annotated[int, typer.Argument(min=1, help="the account to erase")],
    yes: Annotated[bool, typer.Option("--yes", help="erase without asking")] = False,
    wait_s: Annotated[
        float, typer.Option("--wait", min=0, help="seconds to wait for every store (0: start the erasure and return)")
    ] = 120.0,
) -> None:
    """Erase an account from every store, through the outbox (crash-safe: an interrupted erasure is finished by
    any relay). Profile, posts, comments, likes, follows, carts, sessions, timelines and scores go; the ledger,
    orders and payments the law requires stay, under the anonymised account. Run it again to sweep again."""
    if not yes:
        if not sys.stdin.isatty():
            raise fail("an erasure cannot be undone: add --yes to confirm it")
        typer.confirm(f"erase user {user_id} from every store? This cannot be undone", abort=True)

    async def run(state: Any) -> Any:
        erasure = state.services.erasure
        started = await erasure.delete(user_id)
        deadline = time.monotonic() + wait_s
        while True:
            left = await erasure.progress(user_id)
            if left.complete or time.monotonic() >= deadline:
                return started, left
            await state.relay.run_once()  # this process delivers too: relays share the outbox safely
            await asyncio.sleep(0.2)

    started, left = with_app(load_settings(), run)
    again = " (it had been erased before: swept again)" if started.again else ""
    out.print(f"user {user_id}: erasure started{again}; {started.follows_ended} follows ended", highlight=False)
    if left.complete:
        out.print(
            "erased from every store: nothing is left but the anonymised account and its ledger, orders and payments",
            highlight=False,
        )
        return
    for line in left.found:
        err.print(f"  still there: {line}", highlight=False)
    if wait_s > 0:
        raise fail(
            f"not finished after {wait_s:g} s: a relay (serve or worker) finishes it; run this command again to see "
            "what is left",
            code=1,
        )
    out.print("the relay (serve or worker) finishes it; run this command again to see what is left")


@report_app.command("customers")
def report_customers(
    days: Annotated[int, typer.Option(min=1, max=3650, help="orders placed in the last DAYS days")] = 30,
    min_orders: Annotated[int, typer.Option(min=0, help="customers with more than this many orders")] = 5,
) -> None:
    """The seed's customer report: orders, total spent and average order value per customer (cancelled orders do
    not count), read from one consistent snapshot."""

    async def run(state: Any) -> Any:
        return await state.services.shop.customer_report(days=days, min_orders=min_orders)

    rows = with_app(load_settings(), run)
    table = Table(title=f"customers with more than {min_orders} orders in the last {days} days")
    for col in ("email", "orders", "total spent", "average order"):
        table.add_column(col, justify="left" if col == "email" else "right")
    for row in rows:
        table.add_row(row.email, str(row.orders), f"{row.total_spent:,.2f}", f"{row.avg_order_value:,.2f}")
    out.print(table)
    out.print(f"{len(rows)} customers")


admin_app = command_group("Administrators.")
app.add_typer(admin_app, name="admin")


@admin_app.command("create")
def admin_create(
    email: str,
    name: Annotated[str, typer.Option(help="for a new account")] = "Administrator",
    birthdate: Annotated[str, typer.Option(help="for a new account, YYYY-MM-DD")] = "1970-01-01",
    password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False,
) -> None:
    """Make EMAIL an administrator: promote its account, or create one (the password is asked for, or read from
    standard input with --password-stdin). The API can never make anyone an administrator."""
    from datetime import date

    from polysocial.domain.accounts import is_email, normalise_email
    from polysocial.domain.errors import NotFound
    from polysocial.services import accounts

    if not is_email(normalise_email(email)):
        raise fail(f"{email!r} is not an email address (name@example.com), as the API would answer")
    settings = load_settings()

    async def promote(state: Any) -> int | None:
        try:
            user_id: int = await state.services.accounts.make_admin(email)
        except NotFound:
            return None
        return user_id

    user_id = with_app(settings, promote)
    if user_id is not None:
        out.print(f"promoted {normalise_email(email)} (user {user_id}) to administrator")
        return
    try:
        born = date.fromisoformat(birthdate)
    except ValueError:
        raise fail(f"--birthdate {birthdate!r} is not a date (YYYY-MM-DD)") from None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password for the new account", hide_input=True, confirmation_prompt=True)

    async def create(state: Any) -> int:
        me = await state.services.accounts.register(accounts.Registration(email, password, name, born))
        new_id: int = await state.services.accounts.make_admin(me.email)
        return new_id

    created = with_app(settings, create)
    out.print(f"created administrator {normalise_email(email)} (user {created})")


# -- backups --------------------------------------------------------------------------------------------------------

backup_app = command_group("Backups of the sources of truth, and restores that rebuild the projections.")
app.add_typer(backup_app, name="backup")


def _backups() -> Any:
    from polysocial.engines.backup_servers import backups_for

    settings = load_settings()
    return settings, guarded(lambda: backups_for(settings))


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{n:,.0f} B"
        n /= 1024
    return f"{n:,.1f} GB"


@backup_app.command("create")
def backup_create() -> None:
    """Back up the sources of truth. Embedded PostgreSQL: a base backup, and WAL archiving from now on (point-in-time
    recovery); embedded Redis: its snapshot (for the leaderboards). The seed profile's servers: pg_dump, the
    documents in mongodump's layout, `influxd backup -portable`, the leaderboards. Keeps the newest three backups."""
    _, backups = _backups()
    manifest = guarded(backups.create)
    out.print(
        f"backup {manifest.backup_id}: {_size(manifest.size)} in {manifest.seconds:.1f} s, cut at LSN "
        f"{manifest.cut_lsn} (outbox position {manifest.cut['outbox_position']}), in {backups.root}",
        soft_wrap=True,
    )


@backup_app.command("list")
def backup_list() -> None:
    """The backups, oldest first, and the archived WAL a restore can replay after the newest."""
    _, backups = _backups()
    found = guarded(backups.list)
    out.print(f"backups in {backups.root}, oldest first:")
    for m in found:
        out.print(
            f"  {m.backup_id}  {m.profile}  {_size(m.size)}  took {m.seconds:.1f} s  "
            f"cut at LSN {m.cut_lsn}, outbox position {m.cut.get('outbox_position')}",
            soft_wrap=True,
            highlight=False,
        )
    if backups.streams_wal:
        streaming = (
            "streaming" if backups.streaming() else "not streaming (it starts with the engines once a backup exists)"
        )
        out.print(f"WAL archive: {backups.archived_segments()} segments, {streaming}", soft_wrap=True)
    else:
        out.print("no WAL archive for servers reached by URL: a restore brings back the backup itself", soft_wrap=True)
    if not found:
        out.print("no backups yet: `polysocial backup create` makes one")


@backup_app.command("verify")
def backup_verify(
    backup: Annotated[str | None, typer.Argument(help="a backup id from `backup list`; default the newest")] = None,
) -> None:
    """Check a backup's checksums against its manifest, then restore it into a scratch folder and query it. Exit 1
    when anything is wrong."""
    _, backups = _backups()
    found = guarded(lambda: backups.verify(backup))
    for problem in found.problems:
        err.print(f"[bold red]problem:[/] {problem}", highlight=False)
    if not found.ok:
        raise typer.Exit(1)
    out.print(
        f"backup {found.backup_id}: checksums match; it restores into a scratch folder and answers "
        f"({found.users:,} users) in {found.seconds:.1f} s"
    )


@backup_app.command("restore")
def backup_restore(
    backup: Annotated[str | None, typer.Argument(help="a backup id from `backup list`; default the newest")] = None,
    to_time: Annotated[
        str | None,
        typer.Option(help="replay the archived WAL up to this moment (ISO 8601 with a zone), not to its end"),
    ] = None,
) -> None:
    """Restore the sources of truth, then rebuild the projections from them (the graph, counters, carts:
    `reconcile`), deliver the events after the cut, and forget sessions (everyone signs in again). Embedded engines:
    stopped first; their folders are moved aside, never deleted, and the archived WAL is replayed to its end (or
    --to-time). Servers reached by URL: stop the API servers and workers first; each store is put back as the
    backup has it."""
    from datetime import datetime

    target = None
    if to_time is not None:
        try:
            target = datetime.fromisoformat(to_time)
        except ValueError:
            raise fail(f"--to-time {to_time!r} is not an ISO 8601 moment (2026-12-03T15:04:05+00:00)") from None
        if target.tzinfo is None:
            raise fail("--to-time needs a time zone (2026-12-03T15:04:05+00:00)")
    settings, backups = _backups()
    restored = guarded(lambda: backups.restore(backup, target_time=target))
    if backups.streams_wal:
        point = "PostgreSQL replayed the archived WAL up to the transaction of " + (
            restored.recovered_to or "the backup itself"
        )
    else:
        point = f"the stores are as of the backup's snapshot ({restored.recovered_to}): later writes are not in it"
    out.print(f"restored backup {restored.backup_id} in {restored.seconds:.1f} s; {point}", soft_wrap=True)

    async def rebuild(state: Any) -> Any:
        operations = state.services.operations
        await operations.forget_sessions()
        graph = None
        if backups.empties_graph:
            # The graph is a projection of the follow record, not restored with it: emptied, then rebuilt from the
            # restored record before the events after the cut fan posts out along it.
            graph = await operations.rebuild_graph()
        pending = (await state.relay.status()).outbox.pending
        await state.relay.drain(timeout_s=3600)
        # Timelines were deleted (rebuilt on read). On the embedded profiles the counters came back with their posts
        # (documents are in PostgreSQL, one snapshot); the graph and the live carts are what the restore leaves
        # behind the record.
        reconciled = await operations.reconcile(
            repair=True,
            timeline_sample=0,
            counters=backups.checks_counters,
            counter_posts=backups.counter_posts,
            graph=not backups.empties_graph,
        )
        return graph, pending, reconciled

    graph, pending, report = with_app(settings.for_bulk_work(), rebuild)
    repaired = report.users.repaired + sum(d.repaired for d in report.projections)
    if graph is not None:
        out.print(f"graph rebuilt from the follow record: {graph[0]:,} users, {graph[1]:,} follows")
    out.print(
        f"projections rebuilt: {pending} events after the cut delivered, {repaired} drifted projections repaired; "
        "sessions were not restored: everyone signs in again"
    )


# -- the seed stack's test servers ---------------------------------------------------------------------------------


@seed_app.command("build")
def seed_build() -> None:
    """Build (or find cached) FerretDB, Neo4j, InfluxDB and Cassandra from the package registries."""
    from polysocial.engines import seed_stack

    missing = seed_stack.missing_tools()
    if missing:
        raise fail("\n".join(f"{name}: {why}" for name, why in missing.items()))
    timings = guarded(seed_stack.build_all)
    for name, seconds in timings.items():
        out.print(f"{name}: ready in {seconds:.1f} s")
    out.print(f"cache: {seed_stack.cache_dir()}")


@seed_app.command("up")
def seed_up(
    workdir: Annotated[Path | None, typer.Option(help="data folder (default: a temporary one)")] = None,
) -> None:
    """Run the whole seed stack in the foreground (the four test servers plus PostgreSQL and Redis from the
    embedded engines) and print the settings that point polysocial at it. Ctrl-C stops it."""
    from polysocial.engines import seed_stack
    from polysocial.engines.embedded import EmbeddedEngines

    def ready(server: Any, seconds: float) -> None:
        err.print(f"{server.name} ready at {server.url} ({seconds:.1f} s)", highlight=False, soft_wrap=True)

    def run() -> None:
        err.print(
            "starting FerretDB, Neo4j, InfluxDB and Cassandra (the JVMs take the longest: about 25 s here)...",
            soft_wrap=True,
        )
        with seed_stack.running_seed_stack(workdir, on_ready=ready) as seed:
            engines = EmbeddedEngines(load_settings(data_dir=seed.workdir / "engines"))
            try:
                engines.up(only_needed=False)
                where = seed.workdir / "engines"
                err.print(f"PostgreSQL and Redis ready under {where}", highlight=False, soft_wrap=True)
                env = seed.env(relational_url=engines.postgres.url, keyvalue_url=engines.redis.url)
                for key, value in env.items():
                    print(f"export {key}='{value}'")
                sys.stdout.flush()
                err.print("the seed stack is up: the lines above point polysocial at it; Ctrl-C stops it")
                _wait_for_signal()
            finally:
                engines.down()

    guarded(run)


def _interrupt_on_sigterm() -> None:
    """SIGTERM stops a command that starts its own engines the way Ctrl-C does: through its cleanup, so that the
    engines and servers it started are stopped on the way out (the default SIGTERM ends Python without it)."""

    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _wait_for_signal() -> None:
    received: list[int] = []

    def handler(signum: int, _frame: Any) -> None:
        received.append(signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    while not received:
        time.sleep(0.2)


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()


if __name__ == "__main__":
    main()
