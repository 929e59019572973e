"""Request dependencies: the App built in the lifespan, reached through ``Annotated`` types."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from polysocial.bootstrap import App


def get_app(request: Request) -> App:
    app: App = request.app.state.polysocial
    return app


AppDep = Annotated[App, Depends(get_app)]
