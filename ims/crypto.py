"""Secrets at rest: credentials and signing keys are sealed with a key derived from IMS_SECRET_KEY."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


OPENED_KEPT = 256


class Sealer:
    """Authenticated encryption (Fernet) of short strings, keyed from the installation secret."""

    def __init__(self, secret_key: str) -> None:
        raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ims credentials v1").derive(
            secret_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(raw))
        self._opened: dict[str, str] = {}

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, token: str) -> str:
        # Every webhook sent opens its endpoint's secret: remember the last few (a token is
        # immutable ciphertext, so its plaintext never changes).
        if (plain := self._opened.get(token)) is not None:
            return plain
        try:
            plain = self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError("stored secret cannot be decrypted: was IMS_SECRET_KEY changed?") from None
        if len(self._opened) >= OPENED_KEPT:
            self._opened.clear()
        self._opened[token] = plain
        return plain

    def seal_json(self, value: dict | None) -> str | None:
        return None if value is None else self.seal(json.dumps(value, sort_keys=True))

    def open_json(self, token: str | None) -> dict | None:
        return None if token is None else json.loads(self.open(token))


def new_api_key() -> str:
    """An API key: a fixed prefix (so leaked keys are recognisable) + 32 random bytes."""
    return "ims_" + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """Keys carry 256 bits of randomness, so a plain SHA-256 is a safe, fast lookup hash."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_signing_key() -> str:
    return secrets.token_urlsafe(24)
