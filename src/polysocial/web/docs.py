"""/docs (Swagger UI) and /redoc (ReDoc) served from this package: they work on a machine without internet access,
and under a Content-Security-Policy that allows no inline script (each page starts its viewer from a small file)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from polysocial.web.pages import env
from polysocial.web.security import DOCS_CONTENT_SECURITY_POLICY, PAGE_HEADERS

router = APIRouter(include_in_schema=False)

SWAGGER_UI = "vendor/swagger-ui-5.35.0"
REDOC = "vendor/redoc-2.5.4"


def _page(template: str, request: Request) -> HTMLResponse:
    body = env.get_template(template).render(
        title=f"{request.app.title} - API documentation",
        openapi_url=request.app.openapi_url,
        swagger_ui=SWAGGER_UI,
        redoc=REDOC,
    )
    headers = {**PAGE_HEADERS, "Content-Security-Policy": DOCS_CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"}
    return HTMLResponse(body, headers=headers)


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    return _page("docs_swagger.html", request)


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return _page("docs_redoc.html", request)
