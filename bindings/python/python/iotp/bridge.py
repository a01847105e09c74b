"""Payment schemes written in Python: subclass `PaymentBridge`, pass an instance to `Node(...,
scheme=...)`, and the node's engine calls it as it calls a plugin.

Each call of RFC 3867 (the Payment API) arrives as an `IotpPaymentApiRequest` document; the
base class reads it with `xml.etree.ElementTree` and calls the method named after the call in
snake case (`StartPaymentPaymentHandler` -> `start_payment_payment_handler(host, request)`),
whose result is the call's `...Response` element (or the response's children and attributes
given to `response(...)`). A call the subclass does not define answers `ReqNotSupp`, as RFC
3867 asks of every call a bridge does not support; `NotSupported` and `BusinessError` raised in
a method become `ErrorResponse`s.

`host` (an `iotp.Host`) gives the scheme its durable key-value space in the node's store (keep
payment records there, keyed by the payment id, so that a payment is never authorised twice),
the clock, random bytes and the node's log.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Iterable, Optional

NAMESPACE = "http://www.iotp.org/2000/08/PaymentAPI"
"""The RFC 3867 namespace."""


class NotSupported(Exception):
    """Raised by a method for a request it does not support (`ReqNotSupp`)."""


class BusinessError(Exception):
    """Raised by a method for a business failure of the call (`BusError`)."""


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def response(call: str, attributes: Optional[dict[str, str]] = None,
             children: Iterable[ET.Element] = ()) -> ET.Element:
    """The `<call>Response` element, with `attributes` and `children`."""
    element = ET.Element(call + "Response", {k: v for k, v in (attributes or {}).items() if v is not None})
    element.extend(children)
    return element


def packaged_content(tag: str, name: str, text: str) -> ET.Element:
    """A PackagedContent-typed element (`tag`, e.g. `PaySchemePackagedContent`) holding `text`."""
    element = ET.Element(tag, {"Name": name, "Content": "PCDATA", "Transform": "NONE"})
    element.text = text
    return element


class PaymentBridge:
    """The base of payment schemes written in Python. Set `software_id` (`ContentSoftwareID`),
    `protocols` (ProtocolIds), `brands` (BrandIds) and `auth_algorithms`, then define the calls
    the scheme implements."""

    software_id: str = "python scheme"
    protocols: list[str] = []
    brands: list[str] = []
    auth_algorithms: list[str] = []

    def call(self, host: object, request: bytes) -> bytes:
        """One RFC 3867 call: the request document in, the response document out."""
        root = ET.fromstring(request)
        calls = list(root)
        if _local(root.tag) != "IotpPaymentApiRequest" or len(calls) != 1:
            return self._error("SyntaxError", "not an IotpPaymentApiRequest with one call")
        name = _local(calls[0].tag)
        for e in calls[0].iter():
            e.tag = _local(e.tag)
        method = getattr(self, _snake(name), None)
        if method is None:
            return self._error("ReqNotSupp", f"{name} is not supported by {self.software_id}")
        try:
            answer = method(host, calls[0])
        except NotSupported as e:
            return self._error("ReqNotSupp", str(e) or f"{name} is not supported")
        except BusinessError as e:
            return self._error("BusError", str(e))
        return self._document([answer])

    def _error(self, code: str, desc: str) -> bytes:
        error = ET.Element("ErrorResponse", {"ErrorCode": code, "ErrorDesc": desc, "Severity": "HardError"})
        return self._document([error])

    @staticmethod
    def _document(children: list[ET.Element]) -> bytes:
        root = ET.Element("IotpPaymentApiResponse", {"xmlns": NAMESPACE})
        root.extend(children)
        document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
        return document
