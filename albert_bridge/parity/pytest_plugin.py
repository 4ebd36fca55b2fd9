"""pytest plugin (entry point `albert_bridge`): parity checks in a user's own test suite, in one line.

    def test_my_conversion(assert_parity):
        assert_parity("out/")                                  # our torch, tf and flax agree
        assert_parity("out/", backends="torch,hf-torch", expect="golden.npz")

The fixture shares one worker pool per test session (each framework is imported once), and its defaults can be
set for the whole run: `pytest --albert-parity-backends=torch,flax --albert-parity-device=cuda`.
"""

from __future__ import annotations

from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("albert-parity", "albert-bridge parity checks")
    group.addoption("--albert-parity-backends", default=None,
                    help="backends the assert_parity fixture uses by default (e.g. torch,tf,flax or all)")
    group.addoption("--albert-parity-device", default=None, help="device it uses by default (cpu, cuda, tpu)")


@pytest.fixture(scope="session")
def albert_parity_pool():
    # pytest loads this plugin in every session of every project installed beside albert-bridge: the harness (and
    # the package under it) is imported only when a test asks for parity.
    from .harness import WorkerPool

    with WorkerPool() as pool:
        yield pool


@pytest.fixture
def assert_parity(request: pytest.FixtureRequest, albert_parity_pool):
    """`assert_parity(srcs, backends=None, **check_options) -> Report`; fails the test with the text report."""
    from .harness import assert_parity as _assert_parity  # only when asked (see albert_parity_pool)

    defaults: dict[str, Any] = {"pool": albert_parity_pool}
    default_backends = request.config.getoption("--albert-parity-backends")
    device = request.config.getoption("--albert-parity-device")
    if device:
        defaults["device"] = device

    def run(srcs, backends: Any = None, **options: Any):
        return _assert_parity(srcs, backends if backends is not None else default_backends, **{**defaults, **options})

    return run
