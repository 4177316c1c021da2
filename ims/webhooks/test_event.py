"""Send an endpoint a signed ``webhook.test`` event on request (SPEC §4).

It is an ordinary outbox message without a job: the deliverers send, sign, retry and log
it like any other (same headers, same attempts log, redeliverable).
"""

from __future__ import annotations

from sqlalchemy import Connection

from ims.db.tables import webhook_endpoints
from ims.db.types import utcnow
from ims.db.notify import DELIVERIES, notify
from ims.manage.common import get_owned, iso
from ims.manage.deliveries import get_delivery
from ims.webhooks.outbox import write_messages
from ims.webhooks.payload import TEST, test_payload


def send_test_event(conn: Connection, project_id: str, endpoint_id: str) -> dict:
    """Queue the test message for the endpoint (another project's: 404); returns the delivery."""
    endpoint = get_owned(conn, webhook_endpoints, project_id, endpoint_id, "webhook endpoint")
    payload = test_payload(endpoint_id, iso(utcnow()))
    no_job = {"project_id": project_id, "id": None}
    [message] = write_messages(conn, no_job, TEST, payload, to=[(endpoint, endpoint["url"])])
    notify(conn, DELIVERIES)  # deliverers of other processes wake at commit (PostgreSQL)
    return get_delivery(conn, project_id, message.id)
