"""The JSON envelope every reply uses: {"status_code", "message", "response"} (SPEC §5)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

MESSAGES = {200: "OK", 201: "Created", 202: "Accepted"}


def reply(response: dict, status: int = 200, message: str | None = None, headers: dict | None = None) -> JSONResponse:
    body = {"status_code": status, "message": message or MESSAGES.get(status, "OK"), "response": response}
    return JSONResponse(body, status_code=status, headers=headers)
