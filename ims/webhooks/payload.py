"""Webhook bodies, in the seed's shape exactly (SPEC §4). ``size`` is a string of bytes."""

from __future__ import annotations

import json

from ims.db.tables import WEBHOOK_EVENTS

SUCCEEDED, FAILED, BULK_COMPLETED, TEST = WEBHOOK_EVENTS
METADATA_FIELDS = ("blurhash", "dominant_color", "exif")


def success_payload(job, result: dict) -> dict:
    response = {
        "source_id": job["source_id"],
        "job_id": job["id"],
        "object_puts": result["object_puts"],
        "mime": result["mime"],
        "size": str(result["size"]),
        "width": result["width"],
        "height": result["height"],
        "object_key": job["object_key"],
    }
    for name in METADATA_FIELDS:  # asked for with the job's metadata_fields
        if name in result:
            response[name] = result[name]
    if "outputs" in result:  # a job with outputs (SPEC §3): each one's puts, type, size and dimensions
        response["outputs"] = [{**output, "size": str(output["size"])} for output in result["outputs"]]
    if job["metadata"] is not None:
        response["metadata"] = job["metadata"]
    return {"status_code": 200, "message": "Success", "response": response}


def failure_payload(job, error: dict, object_puts: list[dict], *, metadata: bool = True) -> dict:
    """``metadata=False`` leaves the job's metadata out (when it is what could not be written)."""
    response = {
        "source_id": job["source_id"],
        "job_id": job["id"],
        "object_puts": object_puts,
        "object_key": job["object_key"],
        "error": {"code": error["code"], "detail": error["detail"]},
    }
    if metadata and job["metadata"] is not None:
        response["metadata"] = job["metadata"]
    return {"status_code": error["status"], "message": error["message"], "response": response}


def test_payload(endpoint_id: str, sent_at: str) -> dict:
    """The ``webhook.test`` event an endpoint is sent on request (SPEC §4)."""
    return {"status_code": 200, "message": "Test", "response": {"endpoint_id": endpoint_id, "sent_at": sent_at}}


def serialise(payload: dict) -> str:
    """Done once per message; every attempt sends (and signs) exactly these bytes.

    ``allow_nan=False``: a bare ``NaN`` would make the body not JSON (ValueError instead).
    """
    return json.dumps(payload, ensure_ascii=False, allow_nan=False)
