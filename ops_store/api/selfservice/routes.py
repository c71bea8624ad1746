"""The customers' self-service site under /account: server-rendered pages (no JavaScript) on the
store's own services, acting as the signed-in customer.

- ``signin``: sign in with an order reference and email, or a one-time emailed link; sign out.
- ``pages``: orders with tracking and returns, support requests, loyalty points.
- ``session``: the signed session cookie (CSRF token inside) and the security headers.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from ops_store.api.selfservice import pages, signin
from ops_store.api.selfservice.render import STATIC_DIR, PageExit, not_found, see_other
from ops_store.api.selfservice.session import PREFIX, AccountMiddleware
from ops_store.api.settings import api_secret


def install(app: FastAPI) -> None:
    """Mount the self-service pages under /account."""
    settings = app.state.settings
    app.add_middleware(AccountMiddleware, secret=api_secret("session_secret"), secure=settings.secure_cookies)

    async def page_exit(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageExit)
        return exc.response

    app.add_exception_handler(PageExit, page_exit)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="selfservice-static")
    app.include_router(signin.router)
    app.include_router(pages.router)

    @app.get(f"{PREFIX}/sign-in", include_in_schema=False)
    @app.get(f"{PREFIX}/sign-out", include_in_schema=False)
    def to_sign_in() -> Response:  # a form's address opened directly (a reload, a bookmark)
        return see_other(PREFIX)

    @app.api_route(PREFIX + "/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
    def unknown(request: Request, rest: str) -> Response:
        return see_other(PREFIX) if rest == "" else not_found(request)
