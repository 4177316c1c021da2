"""Form fields → the API's own body models, so a form gets the API's messages field by field.

The console adds no rules of its own: a form becomes the same pydantic body a JSON request
would (``body``), goes through the same ``ims.manage`` / ``ims.jobs`` functions, and an
error comes back as {form field: the API's message} (``errors_for``) — ``hostnames[2]``
shows beside the hostnames box, ``parameters.w`` beside the ``w`` box.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ValidationError

from ims.errors import ImsError
from ims.web.errors import validation_failed

_INDEX = re.compile(r"\[\d+\]$")


def body(model: type[BaseModel], **values) -> BaseModel:
    """``model(**values)``, or the ``ValidationFailed`` the JSON API would answer with."""
    try:
        return model(**values)
    except ValidationError as error:
        raise validation_failed(error.errors()) from None


def text(form, name: str) -> str:
    """A text field, stripped ('' when missing)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def given(form, names) -> dict[str, str]:
    """The fields of ``names`` the form filled in (an empty box means "not given")."""
    return {name: text(form, name) for name in names if text(form, name)}


def lines(value: str) -> list[str]:
    """A box of one item per line or comma (hostnames)."""
    return [item for item in re.split(r"[\s,]+", value) if item]


def errors_for(error: ImsError, fields=(), *, prefix: str = "", rest: str = "_form") -> dict[str, str]:
    """{form field: message} for an error of the API; a field the form lacks goes to ``_form``.

    ``prefix``: the API's name of a group the form shows field by field (``parameters.``): its
    members the form has show beside their box, the others beside ``rest``.
    """
    out: dict[str, str] = {}
    for problem in error.errors:
        name = _INDEX.sub("", problem.field or "")
        if prefix and name.startswith(prefix):
            name = name[len(prefix):]
            if name not in fields:
                name = rest
        out.setdefault(name if name in fields else "_form", problem.message)
    return out
