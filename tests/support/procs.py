"""ims processes for end-to-end tests: `ims serve` and `ims worker` as real subprocesses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

BOOTSTRAP_KEY = "ims_e2e_bootstrap_key_0123456789abcdefghijklmnopqrstuvwxyz"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ims_env(data_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMS_")}
    env.update({
        "IMS_DATA_DIR": str(data_dir),
        "IMS_DATABASE_URL": database_url,
        "IMS_BOOTSTRAP_API_KEY": BOOTSTRAP_KEY,
        "IMS_SECRET_KEY": "e2e-secret-key",
        "IMS_ALLOW_PRIVATE_NETWORKS": "1",
        "IMS_CACHE_SIZE_MB": "0",
    })
    env.update(extra)
    return env


class ImsProcess:
    """One `ims serve` or `ims worker`; output goes to a log file next to the data dir."""

    def __init__(self, command: str | tuple[str, ...], env: dict[str, str], log: Path,
                 ims: Path | None = None) -> None:
        """``command``: ``"worker"``, or the arguments (``("serve", "--dev")``); ``ims``: the
        executable (another checkout's, to compare two); this venv's by default."""
        self.command = command
        self.log_path = log
        self._log = open(log, "ab")
        ims = ims or Path(sys.executable).with_name("ims")
        argv = [command] if isinstance(command, str) else list(command)
        self.proc = subprocess.Popen([str(ims), *argv], env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """kill -9: no cleanup, no lease given back."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and wait (graceful stop), then SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


class Server(ImsProcess):
    def __init__(self, env: dict[str, str], log: Path, args: tuple[str, ...] = ()) -> None:
        """``args``: after ``serve`` (``("--dev",)``)."""
        self.port = free_port()
        super().__init__(("serve", *args), {**env, "IMS_PORT": str(self.port)}, log)
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(base_url=self.url, headers={"x-api-key": env["IMS_BOOTSTRAP_API_KEY"]},
                                 timeout=30)
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"ims serve exited: {self.output()[-3000:]}")
            try:
                if self.http.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"ims serve not ready: {self.output()[-3000:]}")

    def stop(self, timeout: float = 30) -> int:
        self.http.close()
        return super().stop(timeout)

    def kill(self) -> None:
        self.http.close()
        super().kill()


def poll(fn, timeout: float = 30, every: float = 0.05, what: str = "condition"):
    """Call ``fn`` until it returns something truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)
