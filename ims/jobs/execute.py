"""One job's work: read the source object → render → put to every chosen destination.

The same ``Renderer.render`` as the on-demand route does the pixels, so the two
paths cannot drift apart. Destinations written by blocking calls (fs) are written
from the pixel thread right after the pixels; the others (S3) afterwards, at once.
Returns an ``Outcome``; it never writes job state.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ims.errors import ImsError, NotFound
from ims.params import Params
from ims.services import Services
from ims.storages import StorageRef


@dataclass
class Outcome:
    result: dict | None = None
    error: ImsError | None = None
    object_puts: list[dict] = field(default_factory=list)


async def execute(svc: Services, job: dict, *, light_here: bool = False) -> Outcome:
    """``light_here``: a process doing nothing else may run light jobs on its loop
    (``Renderer.render``)."""
    source, targets = await _rows(svc, job)
    if source is None:
        return Outcome(error=NotFound("the job's source was deleted", field="source_id"))
    if not targets:
        return Outcome(error=NotFound("every destination of the job was deleted", field="destination_ids"))
    key = job["destination_key"]
    try:
        stores = [svc.storages.get(StorageRef.of(t)) for t in targets]
    except ImsError as error:
        return Outcome(error=error)
    local = [i for i, store in enumerate(stores) if hasattr(store, "put_blocking")]

    def put_local(body: bytes, mime: str) -> dict[int, dict | ImsError]:
        """In the pixel thread, right after the pixels: the destinations written by blocking calls."""
        done: dict[int, dict | ImsError] = {}
        for i in local:
            try:
                stores[i].put_blocking(key, body, mime)
                done[i] = {"bucket": targets[i]["bucket"], "key": key}
            except ImsError as error:
                done[i] = error
        return done

    try:
        params = Params.from_canonical(job["params"])
        storage = svc.storages.get(StorageRef.of(source))
        rendered = await svc.renderer.render(source["id"], storage, job["object_key"], params, keep=False,
                                             then=put_local if local else None, light_here=light_here)
    except ImsError as error:
        return Outcome(error=error)

    async def put(i: int) -> dict:
        await stores[i].put(key, rendered.body, rendered.mime)
        return {"bucket": targets[i]["bucket"], "key": key}

    remote = [i for i in range(len(targets)) if i not in local]
    results = dict(rendered.then or {})
    results.update(zip(remote, await asyncio.gather(*(put(i) for i in remote), return_exceptions=True)))
    ordered = [results[i] for i in range(len(targets))]  # the job's destination order
    landed = [r for r in ordered if isinstance(r, dict)]
    failures = [r for r in ordered if isinstance(r, BaseException)]
    if failures:
        failure = failures[0]
        if not isinstance(failure, ImsError):
            raise failure
        return Outcome(error=failure, object_puts=landed)
    result = {"object_puts": landed, "mime": rendered.mime, "size": len(rendered.body),
              "width": rendered.width, "height": rendered.height}
    return Outcome(result=result, object_puts=landed)


async def _rows(svc: Services, job: dict):
    """The job's source and destinations (cached for a moment, and only the job's project's)."""
    source = await svc.lookup.by_name_or_id(job["source_id"])
    if source is not None and source["project_id"] != job["project_id"]:
        source = None
    owned = {d["id"]: d for d in await svc.lookup.destinations(job["project_id"])}
    return source, [owned[d] for d in job["destination_ids"] if d in owned]
