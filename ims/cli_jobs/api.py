"""The service's HTTP API as the `ims jobs` commands use it: one ``httpx`` client with the key,
the envelope (SPEC §5) unwrapped, and every way a call can go wrong turned into one of
``ims.cli_jobs.errors``.
"""

from __future__ import annotations

import httpx

from ims.cli_jobs.errors import ApiError, Unreachable, UsageError
from ims.errors import FieldError

JOBS = "/api/processes/v1/background_processes"
BULKS = "/api/processes/v1/bulk_processes"
TIMEOUT = 30.0  # seconds for a call; a long poll adds its wait to it


class Api:
    """Calls to one service (``url``) with one API key; use as a context manager."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url.rstrip("/")
        try:
            self._http = httpx.Client(base_url=self.url, headers={"x-api-key": key, "user-agent": "ims-cli"},
                                      timeout=TIMEOUT)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as error:
            raise UsageError(f"--url must be an http(s) URL such as http://127.0.0.1:8080, got {url!r} "
                             f"({error})") from None

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_exc) -> None:
        self._http.close()

    def get(self, path: str, **params) -> dict:
        wait = float(params.get("wait") or 0)
        return self._call("GET", path, params=params or None, timeout=TIMEOUT + wait)

    def post(self, path: str, body: dict) -> dict:
        return self._call("POST", path, json=body)

    def _call(self, method: str, path: str, **options) -> dict:
        """The reply's ``response`` (the envelope of SPEC §5), or a ``CommandError``."""
        try:
            reply = self._http.request(method, path, **options)
        except httpx.UnsupportedProtocol:
            raise UsageError(f"--url must be an http(s) URL such as http://127.0.0.1:8080, got {self.url!r}") from None
        except httpx.TimeoutException:
            raise Unreachable(f"{self.url} did not answer within {options.get('timeout', TIMEOUT):.0f} s") from None
        except httpx.TransportError as error:
            raise Unreachable(f"cannot reach {self.url} ({_reason(error)}); is `ims serve` running there? "
                              "(--url or IMS_URL)") from None
        body = _json(reply)
        if reply.is_success and isinstance(body, dict) and "response" in body:
            return body["response"] if isinstance(body["response"], dict) else {"value": body["response"]}
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            raise ApiError(reply.status_code, body["message"], _field_errors(body.get("errors")))
        raise ApiError(reply.status_code, f"not an ims reply ({reply.headers.get('content-type', 'no content type')}"
                                          f", {len(reply.content)} bytes) from {reply.request.url}; "
                                          "is --url the service's base URL?", [])

    # -- names to ids -------------------------------------------------------------------------

    def source_id(self, name_or_id: str) -> str:
        """The id of the project's source with this id or name (a 24-hex name loses to an id)."""
        return self._find("/api/v1/sources", "source", name_or_id)

    def destination_id(self, name_or_id: str) -> str:
        return self._find("/api/v1/destinations", "destination", name_or_id)

    def _find(self, path: str, what: str, name_or_id: str) -> str:
        items = list(self._all(path))
        for field in ("id", "name"):
            for item in items:
                if item.get(field) == name_or_id:
                    return item["id"]
        names = ", ".join(sorted(str(i.get("name")) for i in items)) or f"none: create one with POST {path}"
        raise UsageError(f"this project has no {what} named {name_or_id!r} (its {what}s: {names})")

    def _all(self, path: str):
        cursor = None
        while True:
            page = self.get(path, limit=100, **({"cursor": cursor} if cursor else {}))
            yield from page.get("items") or []
            cursor = page.get("next_cursor")
            if not cursor:
                return


def _json(reply: httpx.Response):
    try:
        return reply.json()
    except ValueError:
        return None


def _field_errors(raw) -> list[FieldError]:
    if not isinstance(raw, list):
        return []
    return [FieldError(e.get("field"), str(e.get("message", ""))) for e in raw if isinstance(e, dict)]


def _reason(error: httpx.TransportError) -> str:
    """The innermost reason (``[Errno 111] Connection refused``), not httpx's wrapper text."""
    cause = error
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__
    text = str(cause) or str(error) or type(error).__name__
    return text.split("] ", 1)[-1] if text.startswith("[Errno") else text
