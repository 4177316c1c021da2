"""JSON that can be stored and sent again as it came (SPEC §5).

Python's ``json`` reads things it cannot write back as JSON, or that no database
column or HTTP body can hold: a lone surrogate (``"\\ud800"``) cannot be encoded as
UTF-8, ``NaN`` and ``1e400`` (→ infinity) are not JSON, an integer literal of
thousands of digits is refused only by ``int()``'s own limit (``ValueError``), and
``[`` × 100 000 ends in a ``RecursionError``. Accepting such a value at the door
turns into a job that can never be ended or shown.

``loads`` reads a request body and raises nothing but ``ValidationFailed`` (400);
``check`` walks a decoded value — without recursion, whatever its depth — and
raises ``ValidationFailed`` naming the first bad place (``metadata.a``,
``parameters.w``); ``printable`` turns a value already stored into one that can be
shown (for rows written before these checks existed).
"""

from __future__ import annotations

import json
import math

from ims.errors import ValidationFailed

MAX_DEPTH = 32  # nesting levels (objects and arrays) in one stored value
MAX_BODY_DEPTH = MAX_DEPTH + 4  # a body wraps its stored values: {"items": [{"metadata": …}]}
MAX_INT = 2**63 - 1  # a signed 64-bit integer: what databases and most JSON readers hold exactly
_SHOWN_KEY = 40  # characters of a key quoted in a field path


class _Constant(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity`` in the JSON text (not JSON, though Python reads them)."""


def _refuse_constant(name: str):
    raise _Constant(name)


def loads(raw: bytes | str, *, what: str = "the body", field: str | None = None,
          max_depth: int = MAX_BODY_DEPTH) -> object:
    """Decode JSON text; any problem is a ``ValidationFailed`` whose message names ``what``.

    Only the structure is bounded here (depth); ``check`` the parts that will be
    stored, so their errors name the field.
    """
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValidationFailed(f"{what} nests too deeply; the limit is {max_depth} levels", field=field) from None
    except _Constant as constant:
        raise ValidationFailed(f"{what} holds {constant}, which is not JSON: numbers must be finite",
                               field=field) from None
    except json.JSONDecodeError as error:
        raise ValidationFailed(f"{what} is not valid JSON ({error})", field=field) from None
    except UnicodeDecodeError:
        raise ValidationFailed(f"{what} is not valid UTF-8 text", field=field) from None
    except ValueError:  # int(): "Exceeds the limit (4300 digits) for integer string conversion"
        raise ValidationFailed(f"{what} holds an integer too long to read; integers must lie within ±2^63",
                               field=field) from None
    deepest = depth(value)
    if deepest > max_depth:
        raise ValidationFailed(f"{what} nests {deepest} levels deep; the limit is {max_depth}", field=field)
    return value


def depth(value: object) -> int:
    """How many objects and arrays are nested at the deepest point (a scalar is 0)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def check(value: object, field: str, *, max_depth: int = MAX_DEPTH) -> object:
    """Return ``value`` if it can be stored and sent as JSON; else raise naming the place.

    Allowed: objects with string keys, arrays, valid Unicode strings, ``true``,
    ``false``, ``null``, integers within ±2^63, finite floats — nested at most
    ``max_depth`` levels below ``field``.
    """
    stack = [(value, field, 0)]
    while stack:
        item, path, level = stack.pop()
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, str):
            _check_text(item, path)
        elif isinstance(item, int):
            if not -MAX_INT - 1 <= item <= MAX_INT:
                raise ValidationFailed(f"{path} is an integer out of range; integers must lie within ±2^63",
                                       field=path)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValidationFailed(f"{path} must be a finite number, not {item}", field=path)
        elif isinstance(item, (dict, list)):
            if level >= max_depth:
                raise ValidationFailed(f"{path} nests more than {max_depth} levels deep", field=path)
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            children = []
            for key, child in pairs:
                if isinstance(key, str):
                    _check_text(key, path, what=f"a key in {path}")
                elif isinstance(item, dict):
                    raise ValidationFailed(f"{path} has a key that is not a string", field=path)
                children.append((child, f"{path}.{_shown(key)}", level + 1))
            stack.extend(reversed(children))  # depth first, in document order
        else:
            raise ValidationFailed(f"{path} is not a JSON value", field=path)
    return value


def _check_text(text: str, path: str, *, what: str | None = None) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValidationFailed(
            f"{what or path} holds a lone surrogate (\\u{ord(text[error.start]):04x} at character {error.start}); "
            "strings must be valid Unicode", field=path) from None


def _shown(key: object) -> str:
    """A key as it may appear in a field path: valid text (escapes for lone surrogates), bounded."""
    text = str(key).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= _SHOWN_KEY else text[:_SHOWN_KEY] + "…"


def printable(value: object, *, max_depth: int = MAX_DEPTH) -> object:
    """A copy of a stored value that can always be serialised: lone surrogates become U+FFFD,
    non-finite numbers and integers out of range become null, deeper nesting becomes null.

    For values written before ``check`` guarded the door; a valid value comes back equal.
    """
    if isinstance(value, str):
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value) if _bad_text(value) else value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -MAX_INT - 1 <= value <= MAX_INT else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if max_depth <= 0:
        return None
    if isinstance(value, dict):
        return {printable(str(k)): printable(v, max_depth=max_depth - 1) for k, v in value.items()}
    if isinstance(value, list):
        return [printable(v, max_depth=max_depth - 1) for v in value]
    return None


def _bad_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
