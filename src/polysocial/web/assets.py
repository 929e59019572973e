"""The package's static files, with caching headers: vendored files live under a folder named with their version,
so a browser may keep them for a year; the client's own stylesheet and script are revalidated (ETag) every time."""

from __future__ import annotations

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

IMMUTABLE = "public, max-age=31536000, immutable"


class Assets(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        versioned = path.startswith("vendor/")
        response.headers["Cache-Control"] = IMMUTABLE if versioned else "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
