"""Intake routes answer in their protocol's error shape, not the REST API's: an OTLP exporter or a
provider SDK reads only its own. One route class for both, each saying how it shapes an error."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect

from spendpilot.errors import AppError


class ShapedErrorRoute(APIRoute):
    """Every failure of the route, the key check included, answered by ``shape``."""

    def shape(self, request: Request, exc: AppError) -> Response:
        raise NotImplementedError

    def unexpected(self, request: Request, exc: Exception) -> Response | None:
        """The answer to an error that is not the client's; None leaves it to the app's handlers."""
        return None

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except AppError as exc:
                return self.shape(request, exc)
            except ClientDisconnect:
                # The client left while sending its request: nothing was done, nobody reads an answer.
                return Response(status_code=400)
            except Exception as exc:
                answer = self.unexpected(request, exc)
                if answer is None:
                    raise
                return answer

        return route
