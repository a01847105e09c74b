"""Nodes from Python: a purchase through WSGI-hosted Merchant and Payment Handler nodes
(wsgiref on loopback), paid by a Consumer node over the HTTP transport plugin; the ASGI app;
callbacks; errors."""

from __future__ import annotations

import asyncio
import pathlib
import threading
from typing import Any, Iterator, Optional
from wsgiref.simple_server import make_server

import pytest
from conftest import (Quiet, books, consumer_config, merchant_config, open_shop, payment_handler_config,
                      readme_python_block)

import iotp


def serve(app: Any) -> tuple[Any, int]:
    server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_port


@pytest.fixture
def shop(tmp_path: pathlib.Path, plugin_dir: pathlib.Path) -> Iterator[tuple[str, iotp.Node, iotp.Node]]:
    """A Merchant and a Payment Handler (with the mock scheme plugin) in WSGI apps."""
    with open_shop(tmp_path, plugin_dir) as opened:
        yield opened


def test_a_purchase_through_wsgi_apps(shop: tuple[str, iotp.Node, iotp.Node], tmp_path: pathlib.Path,
                                      plugin_dir: pathlib.Path) -> None:
    base, merchant, ph = shop
    chosen: list[list[dict[str, Any]]] = []

    def choose(options: list[dict[str, Any]]) -> Optional[int]:
        chosen.append(options)
        return next(i for i, o in enumerate(options) if o["instrument_id"] == "approve")

    with iotp.Node(consumer_config(tmp_path, plugin_dir), choose=choose) as consumer:
        outcome = consumer.pay(base + "/pay/books", timeout=30)
        assert outcome.process_state == "CompletedOk", outcome
        assert outcome.trans_type == "BaselinePurchase"
        assert outcome.receipts and outcome.receipts[0].process_reference
        assert outcome.next_net_locn == base + "/thanks"
        assert chosen and chosen[0][0]["amount"] == "39.95"
        state, code = consumer.inquire(outcome.iotp_trans_id, "Payment", timeout=30)
        assert state == "CompletedOk"
        stored = consumer.transaction_state(outcome.iotp_trans_id)
        assert stored is not None and stored["process_state"] == "CompletedOk", stored
        assert ph.transaction_state(outcome.iotp_trans_id, "PaymentHandler") is not None
        assert consumer.transaction_state("nosuch@example.com") is None
        sent = [s for s, _ in consumer.messages(outcome.iotp_trans_id)]
        assert sent == [False, True, False]
        for _, xml in consumer.messages(outcome.iotp_trans_id):
            iotp.parse(xml)
        # An unknown offer: the WSGI app answers 404; the Consumer gets RefusedError.
        with pytest.raises(iotp.IotpError):
            consumer.pay(base + "/pay/nothing", timeout=10)


def test_node_errors(tmp_path: pathlib.Path, plugin_dir: pathlib.Path) -> None:
    with pytest.raises(iotp.ConfigError) as caught:
        iotp.Node("[node]\nname = 'x'\n")
    assert isinstance(caught.value, ValueError)
    bad = payment_handler_config(tmp_path, plugin_dir, 1).replace('scheme = "mock"', 'scheme = "nosuch"')
    with pytest.raises(iotp.ConfigError, match="plugins.scheme"):
        iotp.Node(bad)
    with iotp.Node(payment_handler_config(tmp_path, plugin_dir, 1)) as ph:
        reply = ph.handle(b"<IotpMessage>broken")
        assert b"XmlNotWellFrmd" in reply
        with pytest.raises(iotp.RefusedError):
            ph.startup("/pay/books")


def test_the_asgi_app_answers_like_the_wsgi_app(tmp_path: pathlib.Path, plugin_dir: pathlib.Path) -> None:
    with iotp.Node(merchant_config(tmp_path, plugin_dir, 1, 2), offers=books) as merchant:
        app = iotp.AsgiApp(merchant)

        async def request(method: str, path: str, body: bytes = b"", content_type: str = "") -> tuple[int, bytes]:
            sent: list[dict[str, Any]] = []
            queue = [{"type": "http.request", "body": body, "more_body": False}]

            async def receive() -> dict[str, Any]:
                return queue.pop(0)

            async def send(event: dict[str, Any]) -> None:
                sent.append(event)

            scope = {"type": "http", "method": method, "path": path, "query_string": b"",
                     "headers": [(b"content-type", content_type.encode())]}
            await app(scope, receive, send)
            return sent[0]["status"], sent[1]["body"]

        status, body = asyncio.run(request("GET", "/pay/books"))
        assert status == 200
        first = iotp.parse(body)
        assert first.block_tags == ["TpoBlk", "OfferRespBlk"]
        assert asyncio.run(request("GET", "/pay/none"))[0] == 404
        assert asyncio.run(request("POST", "/iotp/merchant", b"x", "text/plain"))[0] == 415
        assert asyncio.run(request("DELETE", "/iotp/merchant"))[0] == 405
        status, body = asyncio.run(request("POST", "/iotp/merchant", b"<x/>", "application/x-iotp; charset=utf-8"))
        assert status == 200 and b"ErrorBlk" in body


def test_the_readme_python_block_runs(repo: pathlib.Path, tmp_path: pathlib.Path, plugin_dir: pathlib.Path) -> None:
    block = readme_python_block(repo, "## Python")
    valid = next(p for p in sorted((repo / "tests/data/valid").rglob("*.xml")) if not iotp.validate(p.read_bytes()))
    names: dict[str, Any] = {
        "data": valid.read_bytes(),
        "offers": {"books": books("/pay/books")},
        "merchant_toml": merchant_config(tmp_path, plugin_dir, 1, 2),
    }
    exec(compile(block, "README.md", "exec"), names)
    assert isinstance(names["app"], iotp.WsgiApp)
    assert names["canonical"] == iotp.parse(names["data"]).to_xml()
