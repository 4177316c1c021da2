"""The long-lived parts one ims process is built from, made once from Settings."""

from __future__ import annotations

from dataclasses import dataclass

from ims.config import Settings
from ims.crypto import Sealer
from ims.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    sealer: Sealer

    @classmethod
    def open(cls, settings: Settings) -> Services:
        settings = settings.with_secret_key()
        return cls(settings=settings, db=Database(settings.database_url), sealer=Sealer(settings.secret_key))

    def close(self) -> None:
        self.db.dispose()
