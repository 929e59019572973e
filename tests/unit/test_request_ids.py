"""Request ids (api/metrics.py): 32 hex digits, unique, and a forked process does not repeat its parent's."""

from __future__ import annotations

import os
import re

from polysocial.api.metrics import new_request_id, request_id_of


def test_request_ids_are_32_hex_digits_and_do_not_repeat() -> None:
    ids = [new_request_id() for _ in range(100_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_process_draws_other_ids_than_its_parent() -> None:
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(writer, new_request_id().encode())
        os._exit(0)
    os.close(writer)
    theirs = os.read(reader, 64).decode()
    os.close(reader)
    os.waitpid(child, 0)
    assert re.fullmatch(r"[0-9a-f]{32}", theirs)
    assert theirs != new_request_id()


def test_a_clients_sane_request_id_is_kept_and_any_other_replaced() -> None:
    assert request_id_of({"headers": [(b"x-request-id", b"abc-123")]}) == "abc-123"
    replaced = request_id_of({"headers": [(b"x-request-id", b"a b\n")]})
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)
