"""Destination key templates: ``thumbs/{stem}_{w}x{h}.{ext}`` → ``thumbs/cat_200x200.webp`` (SPEC §3).

    {key}   the object key              uploads/2026/cat.jpg
    {dir}   the part before its last /  uploads/2026   (empty at the top level)
    {stem}  the file name without ext   cat
    {ext}   the output format's         jpg webp avif png gif tiff jxl json txt css
    {name}  the output's name           thumb          (default: its index, "0", "1", …)
    {w} {h} the output's pixel size     200 200

``{{`` and ``}}`` are literal braces. A ``/`` right after an empty ``{dir}`` is dropped, so
``{dir}/{stem}.webp`` is ``cat.webp`` for ``cat.jpg``. Anything else in braces (``{}``,
``{size}``, ``{w:05}``, ``{key.upper}``) is refused when the job is submitted, as is a
single brace.

``check`` runs at submit with everything known then (the object key and the output's name)
and stand-ins for what only the render knows (``{ext}``, ``{w}``, ``{h}``: short ASCII, the
longest they can be): a template that cannot make a safe key for this object is a 400 then,
not a failed job later. ``resolve`` makes the key once the output is rendered.
"""

from __future__ import annotations

from string import Formatter

from ims.errors import ValidationFailed
from ims.storage import check_key

PLACEHOLDERS = ("key", "dir", "stem", "ext", "name", "w", "h")
DEFAULT = "{key}"
# The output format (``Rendered.format``) → the extension ``{ext}`` stands for.
EXTENSIONS = {"pjpg": "jpg", "png8": "png", "png32": "png", "blurhash": "txt"}
_LATE = {"ext": "jpeg", "w": "99999", "h": "99999"}  # stand-ins at submit: the longest each can be


def check(template: object, field: str, object_key: str, name: str) -> str:
    """``template`` if it makes a safe key for ``object_key`` (the output's ``name``), else a
    400 naming ``field`` (e.g. ``outputs[2].destination_object_key``)."""
    if not isinstance(template, str):
        raise ValidationFailed(f"{field} must be a string such as \"thumbs/{{stem}}.{{ext}}\"", field=field)
    _parts(template, field)
    key = resolve(template, values(object_key, name, **_LATE))
    check_key(key, field=field)
    return template


def resolve(template: str, known: dict[str, str]) -> str:
    """The key ``template`` makes with ``known`` (every placeholder's value; see ``values``)."""
    out: list[str] = []
    dropped_dir = False
    for literal, placeholder in _parts(template, "destination_object_key"):
        if dropped_dir and literal.startswith("/"):
            literal = literal[1:]
        out.append(literal)
        dropped_dir = False
        if placeholder is not None:
            value = known[placeholder]
            out.append(value)
            dropped_dir = placeholder == "dir" and value == ""
    return "".join(out)


def values(object_key: str, name: str, ext: str, w: int | str, h: int | str) -> dict[str, str]:
    """Every placeholder's value for an output rendered as ``ext`` (a format name), ``w``×``h``."""
    directory, _, filename = object_key.rpartition("/")
    stem = filename.rsplit(".", 1)[0] if "." in filename.lstrip(".") else filename
    return {"key": object_key, "dir": directory, "stem": stem, "ext": EXTENSIONS.get(ext, ext),
            "name": name, "w": str(w), "h": str(h)}


def dynamic(template: str) -> bool:
    """Whether the key depends on the render (``{ext}``, ``{w}``, ``{h}``)."""
    return any(p in _LATE for _, p in _parts(template, "destination_object_key"))


def _parts(template: str, field: str) -> list[tuple[str, str | None]]:
    """(literal text, placeholder or None) pairs, ``{{``/``}}`` already made single."""
    allowed = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as error:  # "Single '}' encountered", "expected '}' before end of string"
        raise ValidationFailed(f"{field} has an unbalanced brace ({error}); write {{{{ or }}}} for a "
                               f"literal brace; placeholders: {allowed}", field=field) from None
    parts = []
    for literal, placeholder, spec, conversion in parsed:
        if placeholder is not None and (placeholder not in PLACEHOLDERS or spec or conversion):
            shown = "{" + placeholder + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ValidationFailed(f"{field} has an unknown placeholder {shown}; allowed: {allowed}", field=field)
        parts.append((literal, placeholder))
    return parts
