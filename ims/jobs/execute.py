"""One job's work: read the source object → render → put to every chosen destination.

The same ``Renderer`` as the on-demand route does the pixels (``render_job``), so the
two paths cannot drift apart. Destinations written by blocking calls (``blocking_put``:
fs) are written from the pixel thread right after the pixels; the others (S3)
afterwards, at once. Returns an ``Outcome``; it never writes job state (``ims.jobs.end``
does). A job with ``outputs`` is ``execute_outputs``' (one fetch and one decode for all of them).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ims.errors import ImsError, NotFound
from ims.jobs.execute_outputs import execute_outputs
from ims.jobs.outcome import Outcome
from ims.manage.lookup import SourceLookup
from ims.params import Params
from ims.render import Renderer
from ims.storages import StorageRef, Storages


@dataclass(frozen=True)
class JobTools:
    """What a job's work uses: the rows it names, the storages they open, the renderer."""

    lookup: SourceLookup
    storages: Storages
    renderer: Renderer


async def execute(tools: JobTools, job: dict) -> Outcome:
    # Rows as of the job's claim (the lookup checks the configuration version it saw): a job puts
    # to exactly the destinations it was accepted for.
    source, targets = await tools.lookup.for_job(job["project_id"], job["source_id"], job["destination_ids"],
                                                 version=job.get("config_version"))
    if source is None:
        return Outcome(error=NotFound(f"the job's source {job['source_id']!r} was deleted", field="source_id"))
    missing = [d for d in job["destination_ids"] if d not in targets]
    if missing:  # never put to fewer destinations than the job was accepted for
        return Outcome(error=NotFound(f"the job's destination {missing[0]!r} was deleted", field="destination_ids"))
    if job.get("outputs"):
        return await execute_outputs(tools.renderer, tools.storages, job, source, targets)
    targets = [targets[d] for d in job["destination_ids"]]  # the job's order (object_puts)
    key = job["destination_key"]
    try:
        stores = [tools.storages.get(StorageRef.of(t)) for t in targets]
    except ImsError as error:
        return Outcome(error=error)
    local = [i for i, store in enumerate(stores) if store.blocking_put]

    def put_local(body: bytes, mime: str) -> dict[int, dict | ImsError]:
        """In the pixel thread, right after the pixels: the destinations written by blocking calls."""
        done: dict[int, dict | ImsError] = {}
        for i in local:
            try:
                stores[i].put_blocking(key, body, mime)
                done[i] = reported(i)
            except ImsError as error:
                done[i] = error
        return done

    def reported(i: int) -> dict:
        """A put as object_puts reports it: the object's full key in its bucket (SPEC §4)."""
        return {"bucket": targets[i]["bucket"], "key": stores[i].full_key(key)}

    try:
        params = Params.from_canonical(job["params"])
        storage = tools.storages.get(StorageRef.of(source))
        rendered = await tools.renderer.render_job(source["id"], storage, job["object_key"], params,
                                                   after=put_local if local else None)
    except ImsError as error:
        return Outcome(error=error)

    async def put(i: int) -> dict:
        await stores[i].put(key, rendered.body, rendered.mime)
        return reported(i)

    remote = [i for i in range(len(targets)) if i not in local]
    results = dict(rendered.after or {})
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
              "width": rendered.width, "height": rendered.height, **(rendered.extras or {})}
    return Outcome(result=result, object_puts=landed)
