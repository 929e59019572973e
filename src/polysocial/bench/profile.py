"""Read a py-spy profile of `polysocial serve` (``py-spy record -f raw``: one folded stack and its sample count per
line) as the two tables benchmarks/profile.md shows: the frames where the time is spent (self), and the time by
layer (each sample goes to the innermost frame that belongs to a layer).

    py-spy record -p <worker pid> -d 10 -r 250 -f raw -o feed.txt --nonblocking   # while wrk drives GET /feed
    python -m polysocial.bench.profile feed.txt [--top 15]
"""

from __future__ import annotations

import argparse
import gzip
import re
from collections import Counter
from pathlib import Path

# Layers, tried from the innermost frame outwards; a frame's file path (as py-spy prints it) decides.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("thread-pool hops (sync dependencies in anyio's worker threads)", ("threading.py", "(anyio/", "queue.py")),
    ("PostgreSQL driver and pool (psycopg)", ("(psycopg",)),
    ("Redis driver (redis-py; the multiplexed connection and hiredis)", ("(redis/", "redis_mux.py", "(hiredis")),
    ("response: pydantic validation and JSON", ("(pydantic", "/json/", "orjson")),
    ("ids: 16 bytes to text", ("base64.py", "polysocial/domain/ids.py")),
    ("HTTP server: parsing, socket writes (uvicorn, h11 or httptools)", ("(uvicorn/", "(h11/", "selector_events")),
    ("framework: routing, dependencies, middleware (FastAPI, Starlette)", ("(fastapi/", "(starlette/")),
    ("our code: services, stores, metrics, guards", ("(polysocial/",)),
)
OTHER = "event loop, scheduling, the rest"
_FRAME = re.compile(r"^(?P<function>.*) \((?P<path>.*?)(?::\d+)?\)$")


def _short(frame: str) -> str:
    found = _FRAME.match(frame)
    if not found:
        return frame
    path = re.sub(r".*site-packages/", "", found["path"])
    path = re.sub(r".*/src/", "", path)
    return f"{found['function']} ({path})"


def read(path: Path) -> list[tuple[list[str], int]]:
    """The stacks of a profile, plain or gzipped (benchmarks/profiles/ keeps them gzipped)."""
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def layer_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, marks in LAYERS:
            if any(mark in frame for mark in marks):
                return name
    return OTHER


def summarize(path: Path, top: int = 15) -> str:
    stacks = read(path)
    total = sum(n for _, n in stacks) or 1
    own: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    for frames, n in stacks:
        own[_short(frames[-1])] += n
        layers[layer_of(frames)] += n
    lines = [f"{total:,} samples", "", "| self | frame |", "|---:|---|"]
    lines += [f"| {100 * n / total:.1f}% | `{frame}` |" for frame, n in own.most_common(top)]
    lines += ["", "| share | layer |", "|---:|---|"]
    lines += [f"| {100 * n / total:.1f}% | {name} |" for name, n in layers.most_common()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    print(summarize(args.profile, args.top))


if __name__ == "__main__":
    main()
