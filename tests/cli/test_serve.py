"""`polysocial serve` at its edge: a port in use is one line naming the flag, before anything is announced."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.support.cli import run_cli


def test_a_port_in_use_is_refused_before_it_is_announced(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), env={"POLYSOCIAL_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "choose another with --port" in result.stderr
    assert "the web client at" not in result.stdout  # nothing announced
    assert not (tmp_path / "data").exists()  # and no engine started for nothing
