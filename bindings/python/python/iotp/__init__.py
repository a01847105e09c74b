"""Internet Open Trading Protocol v1.0 (RFC 2801): read, validate and write IOTP messages; run
IOTP nodes (Merchant, Payment Handler, Delivery Handler, Consumer) and host them in WSGI or ASGI
applications (RFC 2935).

>>> import iotp
>>> problems = iotp.validate(data)            # [] when valid and without warnings
>>> message = iotp.parse(data)                # raises iotp.ParseError (a ValueError) if invalid
>>> message.to_xml()                          # the canonical form, as `iotp fmt` writes it
"""

from ._iotp import (
    ConfigError,
    Element,
    Host,
    IotpError,
    Message,
    Node,
    Outcome,
    ParseError,
    Receipt,
    RefusedError,
    TimeoutError,
    TransportError,
    ValidationError,
    __version__,
    parse,
    validate,
)
from .asgi import AsgiApp
from .bridge import BusinessError, NotSupported, PaymentBridge, SchemeError
from .wsgi import WsgiApp

__all__ = [
    "AsgiApp",
    "BusinessError",
    "ConfigError",
    "Element",
    "Host",
    "IotpError",
    "Message",
    "Node",
    "NotSupported",
    "Outcome",
    "ParseError",
    "PaymentBridge",
    "Receipt",
    "RefusedError",
    "SchemeError",
    "TimeoutError",
    "TransportError",
    "ValidationError",
    "WsgiApp",
    "__version__",
    "parse",
    "validate",
]
