"""A job's ``outputs`` (SPEC §3): several renditions of one source object, fetched and decoded once.

    {"outputs": [{"name": "thumb", "parameters": {"w": 200}, "destination_object_key": "thumbs/{stem}.{ext}"},
                 {"parameters": {"w": 1600, "fm": "avif"}, "destination_ids": ["…"]}]}

``parse`` checks the list at submit, every problem named by its path
(``outputs[1].parameters.w``, ``outputs[2].destination_object_key``); ``stored`` and
``from_stored`` are the ``jobs.outputs`` column's form. An output without a name is named by
its index (``"0"``, ``"1"``, …), which is also what ``{name}`` stands for; without
``destination_ids`` it goes to the job's destinations (the job's ``destination_ids``, else all).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl

from ims.errors import FieldError, ImsError, ValidationFailed
from ims.ids import is_id
from ims.jobs import templates
from ims.params import EXTRAS_KEY, Params, with_preset

MAX_OUTPUTS = 20
FIELDS = ("name", "parameters", "preset", "destination_object_key", "destination_ids")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Templates are checked with this key when there is no object key (it was refused, or a bulk
# process has many: each job's own key is checked again when it is made).
SAMPLE_KEY = "uploads/photo.jpg"
# The job's own fields that ``outputs`` replaces (SPEC §3: giving both is a 400).
REPLACED = ("parameters", "preset", "destination_object_key")


@dataclass(frozen=True)
class Output:
    name: str
    params: Params
    key_template: str
    destination_ids: tuple[str, ...] | None  # None: the job's
    preset: str | None = None  # expanded at enqueue (``with_presets``), then None
    given: tuple[tuple[str, object], ...] = ()  # its parameters as given: laid over the preset


def parse(value: object, object_key: str | None, parse_params: Callable[[object, str], Params],
          ignored: tuple[str, ...] = ()) -> tuple[Output, ...]:
    """The outputs of a submission, or one ``ValidationFailed`` listing every problem.
    ``parse_params(value, field)`` parses one output's ``parameters`` (as a job's are; ``ignored``:
    the names it drops); ``object_key`` None: the key templates are checked with ``SAMPLE_KEY``."""
    if isinstance(value, str):  # (what a form body makes of it)
        raise ValidationFailed("outputs must be a JSON list of objects: send the request as JSON "
                               "(content-type: application/json); form bodies carry one output", field="outputs")
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_OUTPUTS:
        got = f"{len(value)} items" if isinstance(value, list) else "not a list"
        raise ValidationFailed(f"outputs must be a list of 1–{MAX_OUTPUTS} objects; got {got}", field="outputs")
    problems: list[FieldError] = []
    out: list[Output] = []
    names: dict[str, int] = {}
    for i, item in enumerate(value):
        at = f"outputs[{i}]"
        try:
            output = _one(item, i, object_key, parse_params, ignored)
        except ImsError as error:
            problems.extend(_under(at, e) for e in error.errors)
            continue
        if output.name in names:
            problems.append(FieldError(f"{at}.name", f"{at}.name: {output.name!r} is already the name of "
                                                     f"outputs[{names[output.name]}]; names are unique in a job"))
        names.setdefault(output.name, i)
        out.append(output)
    if problems:
        raise ValidationFailed("; ".join(p.message for p in problems), errors=problems)
    return tuple(out)


def refuse_replaced(body: dict) -> list[FieldError]:
    """``outputs`` beside the fields it replaces: one problem per field given."""
    return [FieldError(name, f"{name} cannot be given with outputs: each output has its own "
                             f"(outputs[i].{name})") for name in REPLACED if name in body]


def stored(outputs: tuple[Output, ...], chosen: list[list[str]]) -> list[dict]:
    """The ``jobs.outputs`` column: each output with its destinations as checked at submit."""
    return [{"name": o.name, "params": o.params.canonical(), "destination_object_key": o.key_template,
             "destination_ids": ids} for o, ids in zip(outputs, chosen)]


def from_stored(rows: list[dict]) -> tuple[Output, ...]:
    """The outputs of a stored job (``control.resubmission``)."""
    return tuple(Output(r["name"], Params.from_canonical(r["params"]), r["destination_object_key"],
                        tuple(r["destination_ids"])) for r in rows)


def view(rows: list[dict] | None) -> list[dict] | None:
    """The outputs as the job API shows them (the request's shape)."""
    if rows is None:
        return None
    return [{"name": r["name"], "parameters": {k: v for k, v in parse_qsl(r["params"]) if k != EXTRAS_KEY},
             "destination_object_key": r["destination_object_key"], "destination_ids": r["destination_ids"]}
            for r in rows]


def with_presets(outputs: tuple[Output, ...], preset_of: Callable[[str, str], dict],
                 parse_params: Callable[[object, str], Params]) -> tuple[Output, ...]:
    """Each output with its preset's parameters under its own, which override them (as a single
    job's ``preset``). ``preset_of(name, field)``: the project's preset, or a 400 naming ``field``."""
    out = []
    for i, output in enumerate(outputs):
        if output.preset is None:
            out.append(output)
            continue
        base = preset_of(output.preset, f"outputs[{i}].preset")
        params = parse_params(dict(with_preset(base, output.given)), f"outputs[{i}].parameters")
        out.append(replace(output, params=replace(params, extras=output.params.extras), preset=None))
    return tuple(out)


def _one(item: object, i: int, object_key: str | None, parse_params, ignored: tuple[str, ...]) -> Output:
    if not isinstance(item, dict):
        raise ValidationFailed("must be an object such as {\"parameters\": {\"w\": 200}}", field="")
    problems = [FieldError(name, f"unknown field {name!r}; allowed: {', '.join(FIELDS)}")
                for name in item if name not in FIELDS]
    preset = item.get("preset")
    if preset is not None and (not isinstance(preset, str) or not preset):
        problems.append(FieldError("preset", "preset must be the name of one of the project's presets"))
    name = _collect(problems, lambda: _name(item.get("name"), i))
    params = _collect(problems, lambda: parse_params(item.get("parameters"), "parameters"))
    template = item.get("destination_object_key", templates.DEFAULT)
    _collect(problems, lambda: templates.check(template, "destination_object_key", object_key or SAMPLE_KEY,
                                               name or str(i)))
    ids = _collect(problems, lambda: destination_ids(item.get("destination_ids")))
    if problems:
        raise ValidationFailed(problems[0].message, errors=problems)
    parameters = item.get("parameters")
    given = tuple((k, v) for k, v in parameters.items() if k not in ignored) if isinstance(parameters, dict) else ()
    return Output(name, params, template, ids, preset, given)


def _collect(problems: list[FieldError], check: Callable[[], object]):
    """``check()``, or None with its problems added to ``problems``."""
    try:
        return check()
    except ImsError as error:
        problems.extend(error.errors)
        return None


def _name(value: object, i: int) -> str:
    if value is None:
        return str(i)
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise ValidationFailed("name must be 1–64 letters, digits, '.', '_' or '-', starting with a letter "
                               "or digit", field="name")
    return value


def destination_ids(value) -> tuple[str, ...] | None:
    """A job's or an output's ``destination_ids``: None (not given) or distinct ids, in order."""
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(is_id(v) for v in value):
        raise ValidationFailed("destination_ids must be a non-empty list of destination ids",
                               field="destination_ids")
    return tuple(dict.fromkeys(value))


def check_keys_apart(outputs: tuple[Output, ...], chosen: list[list[str]]) -> None:
    """Two outputs whose keys cannot differ (the same template without ``{ext}``, ``{w}``, ``{h}``
    or ``{name}``) and that go to the same destination would overwrite each other: a 400. Keys
    that only turn out equal after the render fail the job before it puts anything
    (``jobs.execute_outputs``)."""
    seen: dict[tuple[str, str], int] = {}
    for i, (output, ids) in enumerate(zip(outputs, chosen)):
        template = output.key_template
        if templates.dynamic(template) or "{name}" in template:
            continue
        for destination in ids:
            first = seen.setdefault((template, destination), i)
            if first != i:
                field = f"outputs[{i}].destination_object_key"
                raise ValidationFailed(f"{field}: outputs[{first}] writes the same key ({template!r}) to "
                                       f"destination {destination!r}; use {{name}}, {{ext}} or {{w}} in one "
                                       f"of them", field=field)


def _under(at: str, error: FieldError) -> FieldError:
    """An output's problem, named by its path in the request."""
    field = f"{at}.{error.field}" if error.field else at
    if error.field and error.message.startswith(error.field + " "):
        message = at + "." + error.message
    else:
        message = f"{field}: {error.message}"
    return FieldError(field, message)
