"""Request bodies of the management API. Unknown fields are errors (extra="forbid").

What is stored must be sendable as it will be sent (SPEC §5): floats finite (``allow_inf_nan``),
a ``cache_control`` that is a valid HTTP header value, an ``expires`` the image route reads back. (pydantic
already refuses strings with lone surrogates.) The checks raise ``ValidationFailed`` themselves,
so the 400 names the field in our words rather than pydantic's.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ims.db.tables import WEBHOOK_EVENTS
from ims.errors import ValidationFailed

Access = Literal["public", "signed", "private"]
Scheme = Literal["hmac-sha256", "imgix-md5"]


# The last second of year 9999: the furthest time a signed URL's expiry is shown as (and ≤ 15 digits,
# what ``ims.signing`` reads back).
MAX_EXPIRES = 253402300799


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def header_value(value: str | None, field: str) -> str | None:
    """``value`` if it can be sent as an HTTP header value: printable ASCII, no control characters
    (CR, LF and NUL would split or end the header, and the reply would go out empty; beyond ASCII,
    clients disagree on how to read it — and Cache-Control's grammar is ASCII anyway)."""
    if value is None:
        return None
    bad = next((c for c in value if not " " <= c <= "~"), None)
    if bad is not None:
        raise ValidationFailed(
            f"{field} is sent as an HTTP header: it must be printable ASCII, without control characters "
            f"(found U+{ord(bad):04X})", field=field)
    return value


class StorageFields(Body):
    path: str | None = Field(None, description="fs: an existing directory inside IMS_FS_ROOTS")
    bucket: str | None = Field(None, description="s3: bucket name; fs destinations: the label reported in object_puts")
    prefix: str | None = Field(None, description="s3: key prefix inside the bucket")
    endpoint_url: str | None = Field(None, description="s3: any S3-compatible endpoint (default AWS)")
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None


class SourceFields(StorageFields):
    base_url: str | None = Field(None, description="http: the web folder's base URL")
    access: Access | None = None
    signature: Scheme | None = None
    signing_key: str | None = Field(None, min_length=16, max_length=200)
    hostnames: list[str] | None = None
    cache_control: str | None = Field(None, max_length=200)
    presets_only: bool | None = Field(None, description="refuse every image parameter but preset (and s, expires)")

    @field_validator("cache_control")
    @classmethod
    def _cache_control(cls, value: str | None) -> str | None:
        return header_value(value, "cache_control")


class SourceCreate(SourceFields):
    name: str
    kind: Literal["fs", "s3", "http"]


class SourcePatch(SourceFields):
    name: str | None = None


class SignedUrlCreate(Body):
    object_key: str = Field(max_length=1024)
    parameters: dict[str, str | int | float | bool] = Field(default_factory=dict,
                                                            description="on-demand parameters, e.g. {\"w\": 300}")
    preset: str | None = Field(None, max_length=100, description="a preset of the project, written as ?preset=NAME")
    expires: int | None = Field(None, description="unix seconds after which the URL answers 410")

    @field_validator("expires")
    @classmethod
    def _expires(cls, value: int | None) -> int | None:
        # A time already past is allowed (the URL answers 410, as it says); one the image route
        # could not read back (negative, 0, more digits than it takes) would only ever answer 400.
        if value is not None and not 0 < value <= MAX_EXPIRES:
            raise ValidationFailed(
                f"expires must be a unix time in seconds, 1–{MAX_EXPIRES} (9999-12-31T23:59:59Z), got {value}",
                field="expires")
        return value


class DestinationCreate(StorageFields):
    name: str
    kind: Literal["fs", "s3"]


class DestinationPatch(StorageFields):
    name: str | None = None


def event_list(value: list[str] | None) -> list[str] | None:
    """An endpoint's ``events``: None (all events), or 1+ of ``WEBHOOK_EVENTS``, each once, kept
    in the order given."""
    if value is None:
        return None
    if not value:
        raise ValidationFailed(f"events must name at least one of {', '.join(WEBHOOK_EVENTS)} "
                               "(or be left out, or null, for all of them)", field="events")
    for index, name in enumerate(value):
        if name not in WEBHOOK_EVENTS:
            raise ValidationFailed(f"events[{index}]: unknown event {name[:100]!r}; the events are "
                                   f"{', '.join(WEBHOOK_EVENTS)}", field="events")
    return list(dict.fromkeys(value))


class _Events(Body):
    events: list[str] | None = Field(None, max_length=len(WEBHOOK_EVENTS) * 4,
                                     description="the events it receives, of " + ", ".join(WEBHOOK_EVENTS)
                                     + "; null (the default): all")

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str] | None) -> list[str] | None:
        return event_list(value)


class EndpointCreate(_Events):
    url: str = Field(max_length=2000)
    description: str = Field("", max_length=500)
    enabled: bool = True


class EndpointPatch(_Events):  # (``"events": null`` sets it back to all events)
    url: str | None = Field(None, max_length=2000)
    description: str | None = Field(None, max_length=500)
    enabled: bool | None = None


class KeyCreate(Body):
    name: str = Field("", max_length=200)


class PresetCreate(Body):
    name: str = Field(description="1–100 lowercase letters, digits, '.', '_' or '-'; unique in the project")
    parameters: dict[str, Any] = Field(default_factory=dict,
                                       description="on-demand parameters, e.g. {\"w\": 400, \"fit\": \"crop\"}")


class PresetPatch(Body):
    name: str | None = None
    parameters: dict[str, Any] | None = Field(None, description="replaces the preset's parameters whole")


class PurgeCreate(Body):
    """``{"object_key"}`` or ``{"prefix"}``, exactly one (checked by ``ims.manage.purge``)."""

    object_key: str | None = Field(None, description="drop the renditions of this object")
    prefix: str | None = Field(None, description="drop the renditions of every object whose key starts with this")
