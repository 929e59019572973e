"""Health. GET /health: each store role's status, 200 when every role answers, 503 (still with the body) when one
does not. For load balancers and orchestrators: GET /health/live (the process answers; touches no store) and
GET /health/ready (every role this process needs answers: send it traffic).

The public body names each role's engine and round-trip time, not its URL: `polysocial doctor` shows URLs (masked)
to the operator on the machine.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel

from polysocial.api.caching import NEVER
from polysocial.api.deps import OperationsDep, SettingsDep
from polysocial.config import Profile, Role

router = APIRouter(tags=["health"])


class RoleStatus(BaseModel):
    role: Role
    ok: bool
    engine: str
    version: str
    rtt_ms: float | None
    error: str | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    profile: Profile
    roles: list[RoleStatus]


@router.get(
    "/health",
    response_model=Health,
    summary="Status of every store role",
    responses={503: {"model": Health, "description": "at least one store role is down"}},
)
async def health(operations: OperationsDep, settings: SettingsDep, response: Response) -> Health:
    response.headers["Cache-Control"] = NEVER
    checks = await operations.health()
    roles = [
        RoleStatus(
            role=c.role,
            ok=c.ok,
            engine=c.engine,
            version=c.version,
            rtt_ms=round(c.rtt_ms, 3) if c.rtt_ms is not None else None,
            error="unreachable" if not c.ok else None,
        )
        for c in checks
    ]
    all_ok = all(c.ok for c in checks)
    if not all_ok:
        response.status_code = 503
    return Health(status="ok" if all_ok else "degraded", profile=settings.profile, roles=roles)


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    down: list[Role]


@router.get("/health/live", response_model=Liveness, summary="The process answers (no store is asked)")
async def live(response: Response) -> Liveness:
    response.headers["Cache-Control"] = NEVER
    return Liveness(status="ok")


@router.get(
    "/health/ready",
    response_model=Readiness,
    summary="Every store role this process needs answers (200), or not (503, naming the roles that do not)",
    responses={503: {"model": Readiness, "description": "at least one store role is down"}},
)
async def ready(operations: OperationsDep, response: Response) -> Readiness:
    response.headers["Cache-Control"] = NEVER
    down = [c.role for c in await operations.health() if not c.ok]
    if down:
        response.status_code = 503
        response.headers["Retry-After"] = "5"
    return Readiness(status="not ready" if down else "ready", down=down)
