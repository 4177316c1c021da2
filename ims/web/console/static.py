"""The console's own CSS and JavaScript (vendored in the package: no CDN, no build step)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.responses import FileResponse

from ims.errors import NotFound
from ims.web.console.routing import module_router

STATIC = Path(__file__).parent / "static"
TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml",
         ".png": "image/png"}
NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")

router = module_router()


@router.get("/static/{name}")
async def static_file(name: str):
    path = STATIC / name
    if not NAME.fullmatch(name) or path.suffix not in TYPES or not path.is_file():
        raise NotFound(f"no console file {name!r}")
    return FileResponse(path, media_type=TYPES[path.suffix])
