"""GET /health: each store role's status. 200 when every role answers, 503 (still with the body) when one does not.

The public body names each role's engine and round-trip time, not its URL: `polysocial doctor` shows URLs (masked)
to the operator on the machine.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel

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
