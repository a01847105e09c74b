"""What the tests need from the workspace, handed over by cli/tests/python.rs (the Rust test
that runs this suite as part of `cargo test --workspace`): the `iotp` executable, the plugin
directory (libiotp_transport_http.so, libiotp_scheme_mock.so) and the repository root."""

from __future__ import annotations

import os
import pathlib

import pytest


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"{name} is not set: run the suite through `cargo test -p iotp-cli --test python`")
    return value


@pytest.fixture(scope="session")
def repo() -> pathlib.Path:
    return pathlib.Path(_env("IOTP_REPO"))


@pytest.fixture(scope="session")
def iotp_bin() -> str:
    return _env("IOTP_BIN")


@pytest.fixture(scope="session")
def plugin_dir() -> pathlib.Path:
    return pathlib.Path(_env("IOTP_PLUGIN_DIR"))
