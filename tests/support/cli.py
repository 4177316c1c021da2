"""The `ims` command as a real subprocess: one-shot commands (``run``) and a long-running
`ims serve …` / `ims webhooks listen …` with arguments (``Started``)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.procs import ImsProcess

IMS = Path(sys.executable).with_name("ims")


def run(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """``ims ARGS…`` to its end; stdout and stderr as text."""
    return subprocess.run([str(IMS), *args], env=env, capture_output=True, text=True, timeout=timeout)


class Started(ImsProcess):
    """``ims ARGS…`` running in the background, its output (stdout + stderr) in ``log``;
    ``stop``, ``kill`` and ``output`` as for the e2e suite's processes."""

    def __init__(self, *args: str, env: dict[str, str], log: Path) -> None:
        super().__init__(args, env, log)

    def wait_for_output(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while text not in (out := self.output()):
            if self.proc.poll() is not None:
                raise AssertionError(f"ims exited ({self.proc.returncode}) before printing {text!r}: {out[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"ims did not print {text!r}: {out[-3000:]}")
            time.sleep(0.05)
        return out

    def wait_ready(self, url: str, timeout: float = 60) -> None:
        """Until ``url``/readyz answers 200 (an `ims serve`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"ims exited ({self.proc.returncode}): {self.output()[-3000:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"ims not ready at {url}: {self.output()[-3000:]}")
