"""Fixtures for the SDK suite: a simulated relay and a real llm-router gateway, both as real
processes (see `tests/pyfixtures`, shared with tests/browser)."""

import pytest

import pyfixtures


@pytest.fixture(scope="session")
def sim():
    with pyfixtures.sim_relay() as s:
        yield s


@pytest.fixture(scope="session")
def gateway(sim, tmp_path_factory):
    with pyfixtures.gateway(sim, tmp_path_factory.mktemp("gw")) as g:
        yield g
