"""The errors of the `ims jobs` commands: each ends the command with exit code 2.

    CommandError             printed as ``ims: <message>`` and one indented line per detail
    ├── UsageError           a flag or a file that cannot make a request
    ├── Unreachable          nothing answers at the URL (refused, no such host, timeout)
    └── ApiError             the service answered 4xx/5xx: status, message, its field errors

A job that ran and failed is not an error here: it is an outcome (exit 1, ``commands``).
"""

from __future__ import annotations

from ims.errors import FieldError

RETRYABLE = (502, 503, 504)  # a proxy or an overloaded node: worth asking again while following


class CommandError(Exception):
    exit_code = 2

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        self.message = message
        self.details = details or []
        super().__init__(message)

    def lines(self) -> list[str]:
        return [f"ims: {self.message}", *(f"  {line}" for line in self.details)]


class UsageError(CommandError):
    pass


class Unreachable(CommandError):
    pass


class ApiError(CommandError):
    def __init__(self, status: int, message: str, errors: list[FieldError]) -> None:
        self.status = status
        self.errors = errors
        details = [f"{e.field}: {e.message}" if e.field else e.message
                   for e in errors if e.message != message or (e.field and e.field not in message)]
        if status == 401:
            details.append("the API key comes from --key or IMS_API_KEY")
        said = "refused the request" if status < 500 else "failed"
        super().__init__(f"the service {said} ({status}): {message}", details)

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE
