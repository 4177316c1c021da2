"""What running a job came to: its result, or its error and the puts that landed before it."""

from __future__ import annotations

from dataclasses import dataclass, field

from ims.errors import ImsError


@dataclass
class Outcome:
    result: dict | None = None
    error: ImsError | None = None
    object_puts: list[dict] = field(default_factory=list)
