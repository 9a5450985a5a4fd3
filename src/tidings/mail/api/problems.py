"""RFC 9457 problem details: every error this API returns has this shape."""

from __future__ import annotations

from typing import Any

from quart import Response, json

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
