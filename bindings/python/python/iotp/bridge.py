"""Payment schemes written in Python: subclass `PaymentBridge`, pass an instance to `Node(...,
scheme=...)`, and the node's engine calls it as it calls a plugin.

Each call of RFC 3867 (the Payment API) arrives as an `IotpPaymentApiRequest` document; the
base class reads it with `xml.etree.ElementTree` and calls the method named after the call in
snake case (`StartPaymentPaymentHandler` -> `start_payment_payment_handler(host, request)`),
whose result is the call's `...Response` element (or the response's children and attributes
given to `response(...)`). A call the subclass does not define answers `ReqNotSupp`, as RFC
3867 asks of every call a bridge does not support; a `SchemeError` raised in a method (or its
subclasses `NotSupported` and `BusinessError`) becomes the call's `ErrorResponse`.

`packaged_text(request, tag, name)` reads a PackagedContent of the request (BASE64 decoded),
`packaged_content(tag, name, text)` writes one, `status(...)` gives the StatusInfo attributes
(ProcessState, PercentComplete, CompletionCode, StatusDesc) of the responses that carry them.

`host` (an `iotp.Host`) gives the scheme its durable key-value space in the node's store (keep
payment records there, keyed by the payment id, so that a payment is never authorised twice),
the clock, random bytes and the node's log.
"""

from __future__ import annotations

import base64
import binascii
import re
import xml.etree.ElementTree as ET
from typing import Iterable, Mapping, Optional

from ._iotp import Host

NAMESPACE = "http://www.iotp.org/2000/08/PaymentAPI"
"""The RFC 3867 namespace."""


class SchemeError(Exception):
    """Raised by a method: the call's `ErrorResponse`. `code` is an RFC 3867 error code
    (`ReqNotSupp`, `BusError`, ...) or an IOTP one (`EncapProtErr`, `AttValIllegal`,
    `MsgBeingProc`, ...); `severity` `HardError`, `Warning` or `TransientError` (then
    `min_retry_secs`); `element_type` names where the problem is (an `ErrorLocation`, e.g.
    `PaySchemeData`)."""

    code: str = "UnknownError"

    def __init__(self, desc: str = "", *, code: Optional[str] = None, severity: str = "HardError",
                 min_retry_secs: Optional[int] = None, element_type: Optional[str] = None) -> None:
        super().__init__(desc)
        self.desc = desc
        if code is not None:
            self.code = code
        self.severity = severity
        self.min_retry_secs = min_retry_secs
        self.element_type = element_type


class NotSupported(SchemeError):
    """Raised by a method for a request it does not support (`ReqNotSupp`)."""

    code = "ReqNotSupp"


class BusinessError(SchemeError):
    """Raised by a method for a business failure of the call (`BusError`)."""

    code = "BusError"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def response(call: str, attributes: Optional[Mapping[str, Optional[str]]] = None,
             children: Iterable[ET.Element] = ()) -> ET.Element:
    """The `<call>Response` element, with `attributes` (those whose value is None left out) and
    `children`."""
    element = ET.Element(call + "Response", {k: v for k, v in (attributes or {}).items() if v is not None})
    element.extend(children)
    return element


def packaged_content(tag: str, name: str, text: str) -> ET.Element:
    """A PackagedContent-typed element (`tag`, e.g. `PaySchemePackagedContent`) holding `text`."""
    element = ET.Element(tag, {"Name": name, "Content": "PCDATA", "Transform": "NONE"})
    element.text = text
    return element


def packaged_text(element: ET.Element, tag: str, name: str) -> Optional[str]:
    """The text of the first `tag` child (a PackagedContent-typed element, e.g.
    `PaySchemePackagedContent`, in any namespace) of `element` named `name`, BASE64 decoded
    when so transformed; None when there is none (or it is not UTF-8)."""
    for child in element:
        if _local(child.tag) != tag or child.get("Name") != name:
            continue
        text = child.text or ""
        if child.get("Transform") != "BASE64":
            return text
        try:
            return base64.b64decode("".join(text.split()), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def status(process_state: str, completion_code: Optional[str] = None,
           percent_complete: Optional[int] = None, status_desc: Optional[str] = None) -> dict[str, Optional[str]]:
    """The StatusInfo attributes (of `ChangeProcessStateResponse`, `CheckAuthResponseResponse`,
    `InquireProcessStateResponse`, `InquirePaymentStatusResponse`) for `response(...)`."""
    return {
        "ProcessState": process_state,
        "PercentComplete": None if percent_complete is None else str(percent_complete),
        "CompletionCode": completion_code,
        "StatusDesc": status_desc,
    }


class PaymentBridge:
    """The base of payment schemes written in Python. Set `software_id` (`ContentSoftwareID`),
    `protocols` (ProtocolIds), `brands` (BrandIds) and `auth_algorithms`, then define the calls
    the scheme implements."""

    software_id: str = "python scheme"
    protocols: list[str] = []
    brands: list[str] = []
    auth_algorithms: list[str] = []

    def call(self, host: Host, request: bytes) -> bytes:
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
            return self._error(e.code, e.desc or f"{name} is not supported", e)
        except SchemeError as e:
            return self._error(e.code, e.desc or f"{name} failed", e)
        return self._document([answer])

    def _error(self, code: str, desc: str, error: Optional[SchemeError] = None) -> bytes:
        attributes = {"ErrorCode": code, "ErrorDesc": desc, "Severity": "HardError"}
        if error is not None:
            attributes["Severity"] = error.severity
            if error.min_retry_secs is not None:
                attributes["MinRetrySecs"] = str(error.min_retry_secs)
        element = ET.Element("ErrorResponse", attributes)
        if error is not None and error.element_type:
            ET.SubElement(element, "ErrorLocation", {"ElementType": error.element_type})
        return self._document([element])

    @staticmethod
    def _document(children: list[ET.Element]) -> bytes:
        root = ET.Element("IotpPaymentApiResponse", {"xmlns": NAMESPACE})
        root.extend(children)
        document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
        return document
