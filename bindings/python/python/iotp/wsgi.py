"""A WSGI application (PEP 3333) that hosts an IOTP node over HTTP (RFC 2935)."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from ._http import answer
from ._iotp import Node

MAX_BODY = 4 * 1024 * 1024


class WsgiApp:
    """Serves `node`: POSTs of `application/iotp` (or `application/x-iotp`) are messages for
    its server roles; a GET (or a form POST) under one of `startup_paths` is an IOTP Startup
    Request, answered with the first message of the offer the path names.

    >>> from wsgiref.simple_server import make_server
    >>> make_server("127.0.0.1", 8080, iotp.WsgiApp(node)).serve_forever()
    """

    def __init__(self, node: Node, startup_paths: Sequence[str] = ("/pay",), max_body: int = MAX_BODY) -> None:
        self.node = node
        self.startup_paths = tuple(startup_paths)
        self.max_body = max_body

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > self.max_body:
            start_response("413 Payload Too Large", [("Content-Type", "text/plain")])
            return [b"body too large\n"]
        body = environ["wsgi.input"].read(length) if length else b""
        status, headers, reply = answer(
            self.node,
            environ.get("REQUEST_METHOD", "GET"),
            environ.get("PATH_INFO", "/"),
            environ.get("QUERY_STRING", ""),
            environ.get("CONTENT_TYPE", ""),
            body,
            self.startup_paths,
        )
        reasons = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                   413: "Payload Too Large", 415: "Unsupported Media Type", 503: "Service Unavailable"}
        start_response(f"{status} {reasons.get(status, '')}", headers + [("Content-Length", str(len(reply)))])
        return [reply]
