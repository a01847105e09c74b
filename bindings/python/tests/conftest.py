"""What the tests need from the workspace, handed over by cli/tests/python.rs (the Rust test
that runs this suite as part of `cargo test --workspace`): the `iotp` executable, the plugin
directory (libiotp_transport_http.so, libiotp_scheme_mock.so) and the repository root; and
what several test modules share (`from conftest import ...`): node configurations, the
Merchant's offer, a Merchant and a Payment Handler served by wsgiref (`open_shop`)."""

from __future__ import annotations

import contextlib
import os
import pathlib
import threading
from typing import Any, Iterator, Optional
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

import iotp


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


class Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def org(org_id: str, name: str, role: str, prefix: str, base: Optional[str]) -> str:
    locations = (
        f'net_locn = "{base}/iotp/{role.lower()}"\n'
        f'cancel_net_locn = "{base}/iotp/cancelled"\n'
        f'error_net_locn = "{base}/iotp/error"\n'
        if base
        else ""
    )
    return (
        f'org_id = "{org_id}"\nshort_desc = "{name}"\n'
        + ("" if role == "Consumer" else f'legal_name = "{name} Ltd."\n')
        + f'[[{{table}}.roles]]\nrole = "{role}"\nmsg_id_prefix = "{prefix}"\n{locations}'
    )


def plugins_table(plugins: pathlib.Path, scheme: Optional[str], transport: Optional[str] = None) -> str:
    """`[plugins]`: the directory, the scheme plugin (None: the application gives the node its
    scheme, e.g. one written in Python) and the transport plugin."""
    return (
        f'\n[plugins]\ndir = "{plugins}"\n'
        + (f'scheme = "{scheme}"\n' if scheme else "")
        + (f'transport = "{transport}"\n' if transport else "")
    )


def payment_handler_config(dir: pathlib.Path, plugins: pathlib.Path, port: int, scheme: Optional[str] = "mock") -> str:
    return (
        f'[node]\nname = "payment-handler"\ndata_dir = "{dir}/ph"\n\n[engine.org]\n'
        + org("pay.example", "Example Payments", "PaymentHandler", "P", f"http://127.0.0.1:{port}").replace("{table}", "engine.org")
        + plugins_table(plugins, scheme)
    )


def merchant_config(dir: pathlib.Path, plugins: pathlib.Path, port: int, ph_port: int) -> str:
    return (
        f'[node]\nname = "merchant"\ndata_dir = "{dir}/merchant"\n\n'
        f'[engine]\nsuccess_net_locn = "http://127.0.0.1:{port}/thanks"\n[engine.org]\n'
        + org("shop.example", "Example Shop", "Merchant", "M", f"http://127.0.0.1:{port}").replace("{table}", "engine.org")
        + "\n[[engine.partners]]\n"
        + org("pay.example", "Example Payments", "PaymentHandler", "P", f"http://127.0.0.1:{ph_port}").replace("{table}", "engine.partners")
        + plugins_table(plugins, "mock")
    )


def consumer_config(dir: pathlib.Path, plugins: pathlib.Path, scheme: Optional[str] = "mock") -> str:
    return (
        f'[node]\nname = "consumer"\ndata_dir = "{dir}/consumer"\n\n[engine.org]\n'
        + org("Consumer:jane/shop.example", "Jane", "Consumer", "C", None).replace("{table}", "engine.org")
        + plugins_table(plugins, scheme, "http")
        + "\n[transport]\nlisteners = []\n"
    )


def books(target: str) -> Optional[dict[str, Any]]:
    """The Merchant's offer callback: prices an order named by the startup path."""
    if not target.startswith("/pay/books"):
        return None
    return {
        "trans_type": "BaselinePurchase",
        "brand_dependent": False,
        "authenticate_first": False,
        "short_desc": "Two books",
        "order_identifier": "ORDER-PY-1",
        "order_desc": "Two paperback books",
        "applicable_law": "The laws of England and Wales",
        "consumer_org_id": "Consumer:jane/shop.example",
        "consumer_name": "Jane",
        "payments": [{"direction": "Debit", "currency": "USD", "amount": "39.95", "short_desc": "Books"}],
        "delivery": None,
        "valid_for_secs": 3600,
    }


def readme_python_block(repo: pathlib.Path, after: str) -> str:
    """The first ```python block of README.md after the text `after`."""
    readme = (repo / "README.md").read_text()
    start = readme.index("```python\n", readme.index(after)) + len("```python\n")
    return readme[start:readme.index("```", start)]


@contextlib.contextmanager
def open_shop(tmp_path: pathlib.Path, plugin_dir: pathlib.Path,
              ph_scheme: Optional[iotp.PaymentBridge] = None) -> Iterator[tuple[str, iotp.Node, iotp.Node]]:
    """A Merchant and a Payment Handler, each a node in a WSGI app served by wsgiref on
    loopback: (the Merchant's base URL, merchant, payment handler). The Payment Handler uses
    `ph_scheme` (a scheme written in Python) when given, else the mock scheme plugin."""
    ph_server = make_server("127.0.0.1", 0, lambda e, s: [], handler_class=Quiet)
    ph_port = ph_server.server_port
    merchant_server = make_server("127.0.0.1", 0, lambda e, s: [], handler_class=Quiet)
    port = merchant_server.server_port
    if ph_scheme is None:
        ph = iotp.Node(payment_handler_config(tmp_path, plugin_dir, ph_port))
    else:
        ph = iotp.Node(payment_handler_config(tmp_path, plugin_dir, ph_port, scheme=None), scheme=ph_scheme)
    merchant = iotp.Node(merchant_config(tmp_path, plugin_dir, port, ph_port), offers=books)
    ph_server.set_app(iotp.WsgiApp(ph))
    merchant_server.set_app(iotp.WsgiApp(merchant))
    for s in (ph_server, merchant_server):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}", merchant, ph
    finally:
        for s in (ph_server, merchant_server):
            s.shutdown()
            s.server_close()
        merchant.close()
        ph.close()
