"""Reading a background-process request body: JSON, form-encoded or multipart (SPEC §3).

Forms may carry ``parameters[w]=1600`` keys or ``parameters`` as a JSON string.
``requests.post(url, data=payload)`` with a nested dict sends the parameter
*names* only (``parameters=w&parameters=h``): that is answered with a 400 saying
to send JSON, because the values are gone. Likewise ``curl -d '{"source_id": …}'``
without a content type sends JSON labelled as a form (curl's default): that is a
400 saying to send ``content-type: application/json``.
"""

from __future__ import annotations

import json
import re

from fastapi import Request

from ims import jsonsafe
from ims.errors import UnsupportedMediaType, ValidationFailed

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_BRACKETED = re.compile(r"^(\w+)\[([^\]]*)\]$")
JSON_FIELDS = ("parameters", "metadata", "destination_ids", "metadata_fields")
LIST_FIELDS = ("destination_ids", "metadata_fields")   # name[]=a&name[]=b, or one JSON array


async def read_body(request: Request) -> object:
    """The decoded body; anything unreadable (not JSON, NaN, an integer of thousands of digits,
    nesting past ``jsonsafe.MAX_BODY_DEPTH``) is a 400 naming the body, never a crash."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        raw = await request.body()
        if not raw.strip():
            raise ValidationFailed("a JSON object body is required", field=None)
        return jsonsafe.loads(raw)
    if media in FORM_TYPES:
        if media == FORM_TYPES[0]:
            _refuse_json_as_form(await request.body())
        form = await request.form()
        return form_to_body(list(form.multi_items()))
    raise UnsupportedMediaType(
        "send the body as application/json (or a form: application/x-www-form-urlencoded, multipart/form-data)",
        field="content-type",
    )


def _refuse_json_as_form(raw: bytes) -> None:
    """A form-encoded body that is JSON text as a whole (its one form key would be the JSON)
    is what ``curl -d '{…}'`` sends without ``-H 'content-type: application/json'``."""
    text = raw.strip()
    if not text.startswith((b"{", b"[")):
        return
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return
    raise ValidationFailed(
        "the body is JSON but was sent as application/x-www-form-urlencoded (what curl -d sends without "
        "a content type): send the header content-type: application/json, e.g. "
        "curl -H 'content-type: application/json' -d '{\"source_id\": …}'",
        field="content-type",
    )


def form_to_body(items: list[tuple[str, object]]) -> dict:
    body: dict = {}
    nested: dict[str, dict] = {}
    lists: dict[str, list] = {}
    for name, value in items:
        if not isinstance(value, str):
            raise ValidationFailed(f"{name} must be a text field, not a file", field=name)
        match = _BRACKETED.match(name)
        if match and match.group(2):  # parameters[w]=1600, metadata[k]=v
            nested.setdefault(match.group(1), {})[match.group(2)] = value
        elif match:  # destination_ids[]=…
            lists.setdefault(match.group(1), []).append(value)
        else:
            lists.setdefault(name, []).append(value)
    for name, values in lists.items():
        if name in JSON_FIELDS:
            body[name] = _json_field(name, values)
        elif len(values) == 1:
            body[name] = values[0]
        else:
            raise ValidationFailed(f"{name} was sent {len(values)} times; send it once", field=name)
    for name, value in nested.items():
        if name in body:
            raise ValidationFailed(f"{name} was sent both as {name}[…] keys and as a value", field=name)
        body[name] = value
    return body


def _json_field(name: str, values: list[str]) -> object:
    if name in LIST_FIELDS and not (len(values) == 1 and values[0].lstrip().startswith("[")):
        return values
    if len(values) == 1 and values[0].lstrip()[:1] in ("{", "["):
        return jsonsafe.loads(values[0], what=f"the {name} field", field=name, max_depth=jsonsafe.MAX_DEPTH)
    if name == "parameters":
        raise ValidationFailed(
            f"parameters arrived as bare names without values ({', '.join(values)}): this is what "
            "requests.post(url, data=payload) sends for a nested dict. Send the body as JSON instead: "
            "requests.post(url, headers=headers, json=payload)",
            field="parameters",
        )
    raise ValidationFailed(f"{name} must be a JSON object string or {name}[key]=value fields", field=name)
