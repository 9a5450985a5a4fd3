"""RFC 9457 problem details: every error the HTTP APIs return has this shape."""

from __future__ import annotations

from typing import Any

from quart import Quart, Response, json
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException

PROBLEM_TYPE = "application/problem+json"


class Problem(Exception):
    """Raise to answer with a problem+json document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> Response:
        body: dict[str, Any] = {"type": "about:blank", "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        body.update(self.extra)
        return Response(
            json.dumps(body), status=self.status, headers=self.headers, content_type=PROBLEM_TYPE
        )


def not_found(what: str) -> Problem:
    return Problem(404, "Not Found", f"no such {what}")


def install_problem_handlers(app: Quart) -> None:
    """Every error the app can raise answers as problem+json, never as an HTML page."""

    @app.errorhandler(Problem)
    async def problem(error: Problem) -> Response:
        return error.response()

    @app.errorhandler(RequestSchemaValidationError)
    async def invalid(error: RequestSchemaValidationError) -> Response:
        detail = str(error.validation_error)
        return Problem(400, "Bad Request", detail[:2000]).response()

    @app.errorhandler(UnicodeDecodeError)
    async def not_utf8(error: UnicodeDecodeError) -> Response:
        # Quart decodes JSON bodies as UTF-8 and lets the error escape as a 500.
        return Problem(400, "Bad Request", "the request body is not valid UTF-8").response()

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        return Problem(error.code or 500, error.name, error.description or "").response()
