"""Presets: a project's named parameter sets (SPEC §2, §3, §5).

``?preset=card`` on an image URL and ``"preset": "card"`` in a job apply the preset named
``card`` of the source's (the job's) project; parameters given beside it override its
values (``ims.params.with_preset``), and the canonical form — cache key, ETag — is that of
the merged parameters, so editing a preset changes the ETag of every URL that uses it.

A preset's parameters are checked as on demand (``ims.params.parse``) when it is saved and
stored as given (minus the ignored names such as ``ixlib``). Its name is a URL token: 1–100
lowercase letters, digits, ``.``, ``_`` or ``-``, unique in the project. Every change bumps
the configuration version (triggers, migration 0005), so the presets each process keeps in
memory (``ims.manage.lookup``) are trusted only while they are current.

``preset_parameters`` is what other use cases call: the parameters of a preset by name, or
a 400 for the field that named it, listing the project's presets.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ims import jsonsafe
from ims.db.tables import presets
from ims.db.types import utcnow
from ims.errors import Conflict, InvalidParameter
from ims.ids import new_id
from ims.manage.common import Page, check_name, get_owned, iso, list_page
from ims.manage.schemas import PresetCreate, PresetPatch
from ims.params import PRESET, parse

_SHOWN_NAMES = 20  # presets named in an "unknown preset" message
MAX_PRESETS = 1000  # per project: every process keeps a project's presets in memory, all of them
_MAX_NAME = 64  # characters of a parameter name: longer is no parameter (and is not echoed back)


def create_preset(conn: Connection, project_id: str, body: PresetCreate, *, ignored: Collection[str] = ()) -> dict:
    check_name(body.name)
    parameters = check_parameters(body.parameters, ignored=ignored)
    _ensure_name_free(conn, project_id, body.name)
    count = conn.execute(select(func.count()).select_from(presets)
                         .where(presets.c.project_id == project_id)).scalar_one()
    if count >= MAX_PRESETS:
        raise Conflict(f"this project has {count} presets, the most it may have ({MAX_PRESETS}): "
                       "delete or reuse one", field="name")
    now = utcnow()
    row = {"id": new_id(), "project_id": project_id, "name": body.name, "parameters": parameters,
           "created_at": now, "updated_at": now}
    try:
        with conn.begin_nested():
            conn.execute(insert(presets).values(**row))
    except IntegrityError:  # a concurrent create took the name between the check and the insert
        raise _name_taken(body.name) from None
    return preset_view(row)


def update_preset(conn: Connection, project_id: str, preset_id: str, body: PresetPatch, *,
                  ignored: Collection[str] = ()) -> dict:
    """``name`` renames (URLs using the old name then answer 400); ``parameters`` replaces the set whole."""
    row = get_owned(conn, presets, project_id, preset_id, "preset")
    given = body.model_dump(exclude_unset=True)
    changes: dict = {"updated_at": utcnow()}
    if given.get("name") is not None and given["name"] != row["name"]:
        check_name(given["name"])
        _ensure_name_free(conn, project_id, given["name"])
        changes["name"] = given["name"]
    if given.get("parameters") is not None:
        changes["parameters"] = check_parameters(given["parameters"], ignored=ignored)
    try:
        with conn.begin_nested():
            conn.execute(update(presets).where(presets.c.id == preset_id).values(**changes))
    except IntegrityError:
        raise _name_taken(changes["name"]) from None
    return get_preset(conn, project_id, preset_id)


def get_preset(conn: Connection, project_id: str, preset_id: str) -> dict:
    return preset_view(get_owned(conn, presets, project_id, preset_id, "preset"))


def list_presets(conn: Connection, project_id: str, page: Page) -> dict:
    return list_page(conn, presets, project_id, page, preset_view)


def delete_preset(conn: Connection, project_id: str, preset_id: str) -> dict:
    get_owned(conn, presets, project_id, preset_id, "preset")
    conn.execute(delete(presets).where(presets.c.id == preset_id))
    return {"id": preset_id, "deleted": True}


def preset_view(row) -> dict:
    return {"id": row["id"], "name": row["name"], "parameters": dict(row["parameters"]),
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


def preset_parameters(conn: Connection, project_id: str, name: object, *, field: str) -> dict:
    """The parameters of the project's preset ``name``; an ``InvalidParameter`` naming ``field``
    (and the project's presets) when there is none by that name. One row read (a batch of jobs
    calls it per item); all of them only for the error."""
    if isinstance(name, str) and name:
        found = conn.execute(select(presets.c.parameters)
                             .where(presets.c.project_id == project_id, presets.c.name == name)).first()
        if found is not None:
            return dict(found[0])
    return pick(project_presets(conn, project_id), name, field=field)


def project_presets(conn: Connection, project_id: str) -> dict[str, dict]:
    """{name: parameters} of every preset of the project (what the lookup cache keeps)."""
    rows = conn.execute(select(presets.c.name, presets.c.parameters)
                        .where(presets.c.project_id == project_id).order_by(presets.c.name)).all()
    return {name: dict(parameters) for name, parameters in rows}


def pick(known: Mapping[str, dict], name: object, *, field: str) -> dict:
    """``known[name]``, or the 400 for ``field`` that says which presets there are."""
    if isinstance(name, str) and name in known:
        return known[name]
    if not isinstance(name, str) or not name:
        raise InvalidParameter(f"{field} must be the name of one of the project's presets", field=field)
    shown = repr(name if len(name) <= 60 else name[:57] + "...")
    if not known:
        raise InvalidParameter(f"{field}: no preset named {shown}; this project has no presets "
                               "(create one with POST /api/v1/presets)", field=field)
    names = sorted(known)
    listed = ", ".join(names[:_SHOWN_NAMES]) + (f" and {len(names) - _SHOWN_NAMES} more"
                                                 if len(names) > _SHOWN_NAMES else "")
    raise InvalidParameter(f"{field}: no preset named {shown}; this project's presets: {listed}", field=field)


def split_query(pairs, *, presets_only: bool = False, ignored: Collection[str] = ()) -> tuple[str | None, list]:
    """An image URL's (name, value) pairs, ``s`` and ``expires`` removed, as (the preset it
    names or None, the other pairs). On a ``presets_only`` source any other parameter but the
    ignored names is a 400 naming it: such a source renders only what its presets say."""
    name, rest = None, []
    for key, value in pairs:
        if key != PRESET:
            rest.append((key, value))
        elif name is not None:
            raise InvalidParameter("preset is given more than once; give it once", field=PRESET)
        else:
            name = value
    if presets_only:
        refused = next((key for key, _ in rest if key not in ignored), None)
        if refused is not None:
            shown = repr(refused if len(refused) <= 60 else refused[:57] + "...")
            raise InvalidParameter(
                f"parameter {shown} is not allowed: this source takes only presets (presets_only); "
                "allowed: preset, s, expires", field=refused)
    return name, rest


def check_parameters(parameters: Mapping[str, object], *, ignored: Collection[str] = ()) -> dict:
    """The parameters as they will be stored, checked as on demand: each value a string, a
    number or a boolean, the whole set valid for ``parse``; no ``preset`` among them (a preset
    does not nest), no signing names. Errors name ``parameters.<name>``."""
    jsonsafe.check(dict(parameters), "parameters")
    kept: dict[str, object] = {}
    for name, value in parameters.items():
        if len(name) > _MAX_NAME:
            raise InvalidParameter(f"parameters: unknown parameter {name[:40]!r}… (a name of {len(name)} "
                                   "characters)", field="parameters")
        field = f"parameters.{name}"
        if name == PRESET:
            raise InvalidParameter(f"{field}: a preset cannot contain another preset", field=field)
        if name in ignored:
            continue
        if isinstance(value, (dict, list)) or value is None:
            raise InvalidParameter(f"{field} must be a string, a number or a boolean", field=field)
        kept[name] = value
    try:
        parse(kept.items())
    except InvalidParameter as error:
        raise InvalidParameter(error.message, field=f"parameters.{error.field}") from None
    return kept


def _ensure_name_free(conn: Connection, project_id: str, name: str) -> None:
    taken = conn.execute(
        select(presets.c.id).where(presets.c.project_id == project_id, presets.c.name == name)).first()
    if taken:
        raise _name_taken(name)


def _name_taken(name: str) -> Conflict:
    return Conflict(f"this project already has a preset named {name!r}", field="name")
