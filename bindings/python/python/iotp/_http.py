"""What the WSGI and ASGI applications share: RFC 2935 over HTTP, answered by a Node."""

from __future__ import annotations

from typing import Sequence

from ._iotp import Node, ParseError, RefusedError

IOTP_TYPES = ("application/iotp", "application/x-iotp")
"""RFC 2935 §4.1: application/iotp, and application/x-iotp which SHOULD also be recognised."""

NO_CACHE = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]


def is_iotp(content_type: str) -> bool:
    """Whether a Content-Type is IOTP's (parameters such as charset allowed)."""
    return content_type.split(";", 1)[0].strip().lower() in IOTP_TYPES


def under(path: str, prefixes: Sequence[str]) -> bool:
    """Whether `path` is one of `prefixes` or below one (`/pay` covers `/pay/x`, not `/payx`)."""
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def answer(
    node: Node,
    method: str,
    path: str,
    query: str,
    content_type: str,
    body: bytes,
    startup_paths: Sequence[str],
) -> tuple[int, list[tuple[str, str]], bytes]:
    """The (status, headers, body) of one request."""
    try:
        if method == "POST" and is_iotp(content_type):
            reply = node.handle(body)
        elif method in ("GET", "POST") and under(path, startup_paths):
            target = path + ("?" + query if query else "")
            reply = node.startup(target)
        elif method in ("GET", "POST"):
            return 415 if method == "POST" else 405, [("Content-Type", "text/plain")], b"not IOTP\n"
        else:
            return 405, [("Allow", "GET, POST"), ("Content-Type", "text/plain")], b"method not allowed\n"
    except RefusedError:
        return 404, [("Content-Type", "text/plain")], b"no such offer or transaction\n"
    except ParseError:
        return 400, [("Content-Type", "text/plain")], b"not an IOTP message this node reads\n"
    except Exception:  # the node could not answer now (store, shutdown): a retry is safe
        return 503, [("Retry-After", "1"), ("Content-Type", "text/plain")], b"retry later\n"
    return 200, [("Content-Type", "application/iotp"), *NO_CACHE], reply
