"""The wake-up channels, as the job code names them: they live in ``ims.db.notify`` (LISTEN/NOTIFY
is the database's), where the management code, below the jobs, can reach them too."""

from ims.db.notify import DELIVERIES, ENDED, JOBS, Wakeups, notify

__all__ = ["DELIVERIES", "ENDED", "JOBS", "Wakeups", "notify"]
