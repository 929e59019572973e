"""`polysocial serve` in a child process, as a user runs it: for tests that SIGKILL it or load it from outside."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from polysocial.config import Role, Settings
from polysocial.engines.seed_stack import free_port


class Server:
    """`polysocial serve` on a data folder (or with ``env`` naming the stores), started, stopped and SIGKILLed by
    PID; its output goes to ``log``. One worker unless asked for more (the suites that need several say so)."""

    def __init__(
        self, data_dir: Path, log: Path, env: dict[str, str] | None = None, *, port: int = 0, workers: int = 1
    ) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("POLYSOCIAL_")}
        self.env |= {"POLYSOCIAL_DATA_DIR": str(data_dir), "POLYSOCIAL_PORT": str(self.port)}
        self.env |= {"POLYSOCIAL_WORKERS": str(workers), **(env or {})}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "polysocial", "serve"], env=self.env, stdout=out, stderr=out
            )
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"{self.base}/health/live", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def serving(settings: Settings, folder: Path, *, workers: int) -> Iterator[Server]:
    """`polysocial serve` with ``workers`` workers on the stores ``settings`` name (a test's own database), its data
    folder and log in ``folder``; stopped at the end of the block."""
    env = {f"POLYSOCIAL_{role.value.upper()}_URL": settings.store_url(role).url for role in Role}
    server = Server(folder / "data", folder / "serve.log", env, workers=workers)
    server.start()
    try:
        yield server
    finally:
        server.stop()
