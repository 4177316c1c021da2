"""A background process request → a validated Submission → a queued job row (SPEC §3).

Every check that can fail without touching the source object happens here, before
the 202: fields, parameters (the same parser as on-demand), keys, the source and
destinations belonging to the project, webhook_url — and the ``preset``, which is
expanded here (the job stores the merged parameters; editing the preset later changes
no queued job).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection, insert, select

from ims import jsonsafe
from ims.config import Settings
from ims.db.tables import destinations, jobs, sources
from ims.db.types import utcnow
from ims.errors import FieldError, ImsError, InvalidParameter, NotFound, ValidationFailed
from ims.ids import is_id, new_id
from ims.jobs import outputs as several
from ims.netguard import check_webhook_url
from ims.manage.presets import preset_parameters
from ims.overlays import Overlays
from ims.params import EXTRAS, Params, parse, with_preset
from ims.storage import check_key
from ims.webhooks.outbox import targets

FIELDS = ("source_id", "object_key", "parameters", "preset", "destination_object_key", "destination_ids",
          "metadata", "webhook_url", "metadata_fields", "outputs")
MAX_METADATA_BYTES = 4096
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Submission:
    source_id: str
    object_key: str
    params: Params
    destination_key: str
    destination_ids: tuple[str, ...] | None
    metadata: dict | None
    webhook_url: str | None
    preset: str | None = None  # expanded by ``enqueue`` (``with_preset``), then None
    parameters: tuple[tuple[str, object], ...] = ()  # as given (ignored names dropped): laid over the preset
    outputs: tuple[several.Output, ...] | None = None  # several outputs (``params``, ``destination_key``: the first's)


def parse_submission(body: object, settings: Settings) -> Submission:
    """Check the shape of a request body; all field problems are reported together."""
    if not isinstance(body, dict):
        raise ValidationFailed("the body must be a JSON object", field=None)
    _check_storable(body)
    problems: list[FieldError] = [
        FieldError(name, f"unknown field {name!r}; allowed: {', '.join(FIELDS)}") for name in body if name not in FIELDS
    ]

    def check(fn):
        try:
            return fn()
        except ImsError as error:
            problems.extend(error.errors)
            return None

    source_id = check(lambda: _source_id(body.get("source_id")))
    object_key = check(lambda: _key(body, "object_key"))
    params = check(lambda: _params(body.get("parameters"), settings.ignored_params))
    preset = check(lambda: _preset(body["preset"])) if body.get("preset") is not None else None
    extras = check(lambda: _metadata_fields(body.get("metadata_fields")))
    destination_key = check(lambda: _key(body, "destination_object_key")) if "destination_object_key" in body \
        else object_key
    outputs = None
    if "outputs" in body:  # (the first output stands in the job's own fields, for their readers)
        problems.extend(several.refuse_replaced(body))
        outputs = check(lambda: several.parse(body["outputs"], object_key,
                                              lambda v, field: _params(v, settings.ignored_params, field),
                                              settings.ignored_params))
        if outputs:
            outputs = (replace(outputs[0], params=replace(outputs[0].params, extras=extras or frozenset())),
                       *outputs[1:])
            params, destination_key = outputs[0].params, outputs[0].key_template
    elif params is not None and extras:
        params = replace(params, extras=extras)
    destination_ids = check(lambda: several.destination_ids(body.get("destination_ids")))
    metadata = check(lambda: _metadata(body.get("metadata")))
    webhook_url = body.get("webhook_url")
    if webhook_url is not None:
        if not isinstance(webhook_url, str):
            problems.append(FieldError("webhook_url", "webhook_url must be an http(s) URL string"))
        else:
            check(lambda: check_webhook_url(webhook_url, allow_private=settings.allow_private_networks,
                                            allow_loopback=settings.allow_loopback_webhooks, field="webhook_url"))
    if problems:
        message = problems[0].message if len(problems) == 1 else "; ".join(p.message for p in problems)
        raise ValidationFailed(message, errors=problems)
    given = tuple((k, v) for k, v in (body.get("parameters") or {}).items() if k not in settings.ignored_params)
    return Submission(source_id, object_key, params, destination_key, destination_ids, metadata, webhook_url,
                      preset, given, outputs)


def enqueue(conn: Connection, project_id: str, sub: Submission) -> dict:
    """Insert the job, queued, in the caller's transaction (nothing is lost between 202 and work)."""
    sub, chosen, stored_outputs = checked(conn, project_id, sub)
    row = job_row(project_id, sub, chosen, stored_outputs, utcnow())
    if sub.webhook_url and not targets(conn, row):
        raise ValidationFailed(
            "webhook_url needs a webhook endpoint in the project (its secret signs the message): "
            "create one with POST /api/v1/webhook_endpoints",
            field="webhook_url",
        )
    conn.execute(insert(jobs).values(**row))
    return row


def checked(conn: Connection, project_id: str, sub: Submission) -> tuple[Submission, list[str], list[dict] | None]:
    """The checks that read the project's rows: the source is the project's, presets expanded (the
    job's and each output's), the destinations the project's. Returns the submission with its
    presets expanded, the destination ids it goes to, and its ``jobs.outputs`` (None: one output)."""
    _check_source(conn, project_id, sub.source_id)
    sub = _expand_preset(conn, project_id, sub)
    chosen = _check_destinations(conn, project_id, sub.destination_ids)
    stored_outputs = None
    if sub.outputs:  # presets expanded; each output's destinations; the job's are all of them, in first-use order
        sub = replace(sub, outputs=several.with_presets(
            sub.outputs, lambda name, field: preset_parameters(conn, project_id, name, field=field),
            lambda value, field: _params(value, (), field)))
        sub = replace(sub, params=sub.outputs[0].params)
        each = [chosen if o.destination_ids is None else
                _check_destinations(conn, project_id, o.destination_ids, field=f"outputs[{i}].destination_ids")
                for i, o in enumerate(sub.outputs)]
        several.check_keys_apart(sub.outputs, each)
        stored_outputs = several.stored(sub.outputs, each)
        chosen = list(dict.fromkeys(d for ids in each for d in ids))
    return sub, chosen, stored_outputs


def job_row(project_id: str, sub: Submission, chosen: list[str], stored_outputs: list[dict] | None,
            now: datetime) -> dict:
    """The ``jobs`` row of a checked submission (``checked``), queued and due ``now``."""
    return {
        "id": new_id(),
        "project_id": project_id,
        "source_id": sub.source_id,
        "object_key": sub.object_key,
        "params": sub.params.canonical(),
        "destination_key": sub.destination_key,
        "destination_ids": chosen,
        "metadata": sub.metadata,
        "webhook_url": sub.webhook_url,
        "status": "queued",
        "attempts": 0,
        "max_attempts": MAX_ATTEMPTS,
        "run_at": now,
        "lease_token": None,
        "lease_until": None,
        "result": None,
        "error": None,
        "created_at": now,
        "started_at": None,
        "finished_at": None,
        "updated_at": now,
        "outputs": stored_outputs,
    }


async def check_overlays(overlays: Overlays, project_id: str, sub: Submission) -> None:
    """A ``mark``/``blend`` that names no image of the project is a 400 now, not a failed job later
    (the worker resolves it again: a source may change in between). A preset's own are checked
    where it is used, as on demand."""
    renders = [(f"outputs[{i}].parameters", o.params) for i, o in enumerate(sub.outputs)] if sub.outputs \
        else [("parameters", sub.params)]
    for field, params in renders:
        try:
            await overlays.check(project_id, sub.source_id, params)
        except InvalidParameter as error:
            raise InvalidParameter(error.message, field=f"{field}.{error.field}") from None


def accepted_reply(job: dict) -> dict:
    return {"job_id": job["id"], "status": job["status"], "source_id": job["source_id"],
            "object_key": job["object_key"]}


def _check_storable(body: dict) -> None:
    """Every field, ``parameters`` and ``metadata`` values too, must be storable and sendable as
    JSON (SPEC §5): a job whose metadata cannot be written into its webhook must never be queued."""
    for name, value in body.items():
        jsonsafe.check(name, "a field name")
        jsonsafe.check(value, name)


def _source_id(value) -> str:
    if value is None:
        raise ValidationFailed("source_id is required", field="source_id")
    if not is_id(value):
        raise ValidationFailed("source_id must be a source id: 24 lowercase hex characters", field="source_id")
    return value


def _key(body: dict, field: str) -> str:
    value = body.get(field)
    if value is None:
        raise ValidationFailed(f"{field} is required", field=field)
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be a string", field=field)
    return check_key(value, field=field)


def _params(value, ignored: tuple[str, ...], field: str = "parameters") -> Params:
    if value is None:
        return Params()
    if not isinstance(value, dict):
        raise ValidationFailed(f"{field} must be an object such as {{\"w\": 1600, \"h\": 1600}}", field=field)
    items = []
    for name, item in value.items():
        if name in ignored:
            continue
        if isinstance(item, (dict, list)) or item is None:
            raise InvalidParameter(f"{field}.{name} must be a string or a number", field=f"{field}.{name}")
        items.append((name, item))
    try:
        return parse(items, ignored=ignored)
    except InvalidParameter as error:
        raise InvalidParameter(error.message, field=f"{field}.{error.field}") from None


def _preset(value) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationFailed("preset must be the name of one of the project's presets", field="preset")
    return value


def _expand_preset(conn: Connection, project_id: str, sub: Submission) -> Submission:
    """The submission with its preset's parameters under its own (which override them)."""
    if sub.preset is None:
        return sub
    base = preset_parameters(conn, project_id, sub.preset, field="preset")
    params = _params(dict(with_preset(base, sub.parameters)), ())
    return replace(sub, params=replace(params, extras=sub.params.extras), preset=None)


def _metadata_fields(value) -> frozenset[str]:
    """What the result and webhook report about the output besides its size (``Params.extras``)."""
    if value is None:
        return frozenset()
    allowed = ", ".join(EXTRAS)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationFailed(f"metadata_fields must be a list of names from {allowed}", field="metadata_fields")
    unknown = [v for v in value if v not in EXTRAS]
    if unknown:
        raise ValidationFailed(f"metadata_fields: unknown name {unknown[0]!r}; allowed: {allowed}",
                               field="metadata_fields")
    return frozenset(value)


def _metadata(value) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationFailed("metadata must be a JSON object", field="metadata")
    size = len(json.dumps(value, separators=(",", ":")).encode())
    if size > MAX_METADATA_BYTES:
        raise ValidationFailed(f"metadata is {size} bytes as JSON; the limit is {MAX_METADATA_BYTES}", field="metadata")
    return value


def _check_source(conn: Connection, project_id: str, source_id: str) -> None:
    found = conn.execute(
        select(sources.c.id).where(sources.c.id == source_id, sources.c.project_id == project_id)
    ).first()
    if not found:
        raise NotFound(f"no source with id {source_id!r} in this project", field="source_id")


def _check_destinations(conn: Connection, project_id: str, wanted: tuple[str, ...] | None,
                        field: str = "destination_ids") -> list[str]:
    owned = conn.execute(
        select(destinations.c.id)
        .where(destinations.c.project_id == project_id)
        .order_by(destinations.c.created_at, destinations.c.id)
    ).scalars().all()
    if wanted is None:
        if not owned:
            raise ValidationFailed(
                "this project has no destinations: create one with POST /api/v1/destinations",
                field="destination_ids",
            )
        return list(owned)
    unknown = [d for d in wanted if d not in owned]
    if unknown:
        where = "" if field == "destination_ids" else f"{field}: "
        raise ValidationFailed(f"{where}no destination with id {unknown[0]!r} in this project", field=field)
    return list(wanted)
