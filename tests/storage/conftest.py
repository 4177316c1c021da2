"""Fixtures for the storage tests: the contract suite's backends (see backends.py)."""

from __future__ import annotations

import uuid

import pytest

from tests.storage.backends import ALL, WRITABLE, make_backend


@pytest.fixture(scope="session")
def contract_bucket(seaweed):
    return seaweed.create_bucket("contract-" + uuid.uuid4().hex[:12])


@pytest.fixture(params=ALL)
async def backend(request, tmp_path):
    made = await make_backend(request.param, request, tmp_path)
    yield made
    await made.storage.aclose()


@pytest.fixture(params=WRITABLE)
async def writable(request, tmp_path):
    made = await make_backend(request.param, request, tmp_path)
    assert made.writable
    yield made
    await made.storage.aclose()
