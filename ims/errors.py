"""One error tree for all of ims.

Every error a client or a source file can cause is an ``ImsError`` subclass that
knows its HTTP status, a stable machine ``code``, a message that is safe to show,
and the fields it concerns. Responses are made from these in one place
(``ims.web.errors``); nothing else formats error replies.

    ImsError (500 internal, logged)
    ├── BadRequest (400 bad_request)
    │   ├── InvalidParameter (400 invalid_parameter)     an image/job parameter
    │   └── ValidationFailed (400 validation_error)      a JSON body field
    ├── Unauthorized (401 unauthorized)
    ├── Forbidden (403 forbidden)
    ├── NotFound (404 not_found)
    │   └── ObjectNotFound (404 source_not_found)        no such object in storage
    ├── Conflict (409 conflict)
    ├── Gone (410 gone)
    ├── PayloadTooLarge (413 too_large)
    ├── UnsupportedMediaType (415 unsupported_media_type)
    ├── Unprocessable (422 unprocessable)
    │   └── NotAnImage (422 not_an_image)
    ├── TooManyRequests (429 too_many_requests)         failed console sign-ins, per address
    ├── StorageError (502 storage_error, transient)      storage answered badly
    ├── Unavailable (503 unavailable, transient)         overloaded, shutting down
    │   └── ProcessingTimeout (503 processing_timeout)    the render ran past the limit
    └── FetchTimeout (504 fetch_timeout, transient)      source too slow

``transient`` marks errors a background job retries; all others fail it at once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem with one named input (a JSON field or a URL parameter)."""

    field: str | None
    message: str

    def as_dict(self) -> dict:
        return {"field": self.field, "message": self.message}


class ImsError(Exception):
    status: int = 500
    code: str = "internal"
    transient: bool = False
    log: bool = True
    default_message: str = "Internal error"

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if errors is None:
            errors = [FieldError(field, self.message)]
        self.errors = errors
        self.headers = headers or {}
        super().__init__(self.message)

    @property
    def field(self) -> str | None:
        return self.errors[0].field if self.errors else None

    def about(self, field: str) -> ImsError:
        """The same kind of error, said of ``field`` (an overlay image's: ``mark: …``)."""
        return type(self)(f"{field}: {self.message}", field=field, headers=self.headers)

    def envelope(self) -> dict:
        """The JSON body every error reply uses (SPEC §5)."""
        return {
            "status_code": self.status,
            "message": self.message,
            "errors": [e.as_dict() for e in self.errors],
        }


class ClientError(ImsError):
    log = False


class BadRequest(ClientError):
    status, code, default_message = 400, "bad_request", "Bad request"


class InvalidParameter(BadRequest):
    code = "invalid_parameter"


class ValidationFailed(BadRequest):
    code = "validation_error"


class Unauthorized(ClientError):
    status, code, default_message = 401, "unauthorized", "A valid x-api-key header is required"


class Forbidden(ClientError):
    status, code, default_message = 403, "forbidden", "Forbidden"


class NotFound(ClientError):
    status, code, default_message = 404, "not_found", "Not found"


class ObjectNotFound(NotFound):
    code, default_message = "source_not_found", "The source object does not exist"


class Conflict(ClientError):
    status, code, default_message = 409, "conflict", "Conflict"


class Gone(ClientError):
    status, code, default_message = 410, "gone", "Gone"


class PayloadTooLarge(ClientError):
    status, code, default_message = 413, "too_large", "Too large"


class UnsupportedMediaType(ClientError):
    status, code, default_message = 415, "unsupported_media_type", "Unsupported media type"


class Unprocessable(ClientError):
    status, code, default_message = 422, "unprocessable", "Unprocessable"


class NotAnImage(Unprocessable):
    code, default_message = "not_an_image", "The source object is not a decodable image"


class TooManyRequests(ClientError):
    status, code, default_message = 429, "too_many_requests", "Too many requests, try again later"


class StorageError(ImsError):
    status, code, default_message = 502, "storage_error", "Storage failed"
    transient = True


class Unavailable(ImsError):
    status, code, default_message = 503, "unavailable", "Service unavailable, try again"
    transient = True
    log = False


class ProcessingTimeout(Unavailable):
    """The render ran past the processing limit. Not transient: a background job fails at once,
    because the same render would run out of time again (and hold a pixel child each time)."""

    code, default_message = "processing_timeout", "Processing took too long"
    transient = False


class FetchTimeout(ImsError):
    status, code, default_message = 504, "fetch_timeout", "The source took too long to answer"
    transient = True
    log = False
