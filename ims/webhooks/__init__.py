"""Webhooks: payloads, signed delivery, and ``verify`` for receivers (SPEC §4)."""

from ims.webhooks.verify import WebhookVerificationError, verify

__all__ = ["WebhookVerificationError", "verify"]
