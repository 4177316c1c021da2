"""A job with ``outputs`` (SPEC §3): one fetch, one decode, every output put to its destinations.

    render_many        the source object read once, decoded once (``Renderer.render_many``)
    keys               each output's key template resolved with its format and pixel size
    put                every (output, destination) pair at once
    Outcome            succeeded when every put landed; else the first error (outputs, then
                       destinations, in the job's order) and the puts that did land

The result keeps the single job's shape for its readers (top-level ``object_puts`` = every
put, ``mime``/``size``/``width``/``height`` = the first output's) and adds ``outputs``.
"""

from __future__ import annotations

import asyncio

from ims.errors import ImsError, ValidationFailed
from ims.jobs import templates
from ims.jobs.outcome import Outcome
from ims.params import Params
from ims.pipeline import Rendered
from ims.render import Renderer
from ims.storage import check_key
from ims.storages import StorageRef, Storages


async def execute_outputs(renderer: Renderer, storages: Storages, job: dict, source: dict,
                          targets: dict[str, dict]) -> Outcome:
    """Run ``job`` (its ``outputs`` column set) from ``source`` to ``targets`` (id → destination row)."""
    outputs = job["outputs"]
    try:
        stores = {d: storages.get(StorageRef.of(targets[d])) for d in job["destination_ids"]}
        rendered = await renderer.render_many(source["id"], storages.get(StorageRef.of(source)), job["object_key"],
                                              [Params.from_canonical(o["params"]) for o in outputs])
        keys = _keys(job["object_key"], outputs, rendered)
    except ImsError as error:
        return Outcome(error=error)

    async def put(i: int, destination: str) -> dict:
        store, out = stores[destination], rendered[i]
        await store.put(keys[i], out.body, out.mime)
        return {"bucket": targets[destination]["bucket"], "key": store.full_key(keys[i])}

    pairs = [(i, d) for i, output in enumerate(outputs) for d in output["destination_ids"]]
    results = await asyncio.gather(*(put(i, d) for i, d in pairs), return_exceptions=True)
    landed = [r for r in results if isinstance(r, dict)]
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        if not isinstance(failures[0], ImsError):
            raise failures[0]
        return Outcome(error=failures[0], object_puts=landed)
    each = [{"name": output["name"], "object_puts": [r for (j, _), r in zip(pairs, results) if j == i],
             **_described(rendered[i])} for i, output in enumerate(outputs)]
    first = rendered[0]
    result = {"object_puts": landed, **_described(first), **(first.extras or {}), "outputs": each}
    return Outcome(result=result, object_puts=landed)


def _described(out: Rendered) -> dict:
    return {"mime": out.mime, "size": len(out.body), "width": out.width, "height": out.height}


def _keys(object_key: str, outputs: list[dict], rendered: list[Rendered]) -> list[str]:
    """Each output's key; two outputs that would write one key to one destination are a 400
    before anything is put (the render decided ``{ext}``, ``{w}``, ``{h}``)."""
    keys = []
    written: dict[tuple[str, str], int] = {}
    for i, (output, out) in enumerate(zip(outputs, rendered)):
        field = f"outputs[{i}].destination_object_key"
        key = check_key(templates.resolve(output["destination_object_key"], templates.values(
            object_key, output["name"], out.format, out.width, out.height)), field=field)
        for destination in output["destination_ids"]:
            first = written.setdefault((key, destination), i)
            if first != i:
                raise ValidationFailed(f"{field}: outputs[{first}] and outputs[{i}] both make the key {key!r} "
                                       f"for destination {destination!r}; use {{name}}, {{ext}} or {{w}} "
                                       f"to tell them apart", field=field)
        keys.append(key)
    return keys
