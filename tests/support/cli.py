"""Running the real `polysocial` command in a child process, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POLYSOCIAL_")}
    return subprocess.run(
        [sys.executable, "-m", "polysocial", *args],
        env={**clean, "COLUMNS": "200", **(env or {})},
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_python_module(module: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m module args`` in a child process, without the caller's POLYSOCIAL_* settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POLYSOCIAL_")}
    return subprocess.run(
        [sys.executable, "-m", module, *args], env=clean, capture_output=True, text=True, timeout=timeout, check=False
    )
