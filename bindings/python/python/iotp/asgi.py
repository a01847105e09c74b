"""An ASGI application (HTTP scope) that hosts an IOTP node over HTTP (RFC 2935)."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Sequence

from ._http import answer
from ._iotp import Node

MAX_BODY = 4 * 1024 * 1024


class AsgiApp:
    """The ASGI twin of `WsgiApp`: the node runs in a worker thread (it releases the GIL while
    it works), so the event loop is never blocked."""

    def __init__(self, node: Node, startup_paths: Sequence[str] = ("/pay",), max_body: int = MAX_BODY) -> None:
        self.node = node
        self.startup_paths = tuple(startup_paths)
        self.max_body = max_body

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            event = await receive()
            body += event.get("body", b"")
            if len(body) > self.max_body:
                await self._send(send, 413, [("Content-Type", "text/plain")], b"body too large\n")
                return
            if not event.get("more_body", False):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        status, out, reply = await asyncio.get_running_loop().run_in_executor(
            None,
            answer,
            self.node,
            scope.get("method", "GET"),
            scope.get("path", "/"),
            scope.get("query_string", b"").decode("latin-1"),
            headers.get("content-type", ""),
            bytes(body),
            self.startup_paths,
        )
        await self._send(send, status, out, reply)

    @staticmethod
    async def _send(send: Callable[[dict[str, Any]], Awaitable[None]], status: int,
                    headers: list[tuple[str, str]], body: bytes) -> None:
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        raw.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})
