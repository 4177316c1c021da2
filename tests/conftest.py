"""Session-wide real services shared by the whole suite. Keep this file small."""

from __future__ import annotations

import pytest

from tests.support.origin import HttpOrigin
from tests.support.seaweed import SeaweedS3


@pytest.fixture(scope="session")
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="session")
def seaweed():
    """A running SeaweedFS S3 server (endpoint_url, access_key, secret_key, create_bucket)."""
    server = SeaweedS3().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def http_origin():
    """A threaded HTTP server on 127.0.0.1 serving a temp directory, with hooks."""
    origin = HttpOrigin().start()
    yield origin
    origin.stop()
