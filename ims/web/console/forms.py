"""Form fields → the API's own body models, so a form gets the API's messages field by field."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from ims.web.errors import validation_failed


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
