"""A payment scheme written in Python (`iotp.PaymentBridge`) in real purchases: `PyMockScheme`
speaks the wire protocol of the Rust mock scheme (core/src/payapi/mock.rs, plugin
libiotp_scheme_mock.so) for the Payment Handler and the Consumer, keeping its payment records in
the node's durable key-value store (`iotp.Host`) keyed by the payment id. A Payment Handler node
runs it in purchases paid by a Consumer with the Rust mock plugin, then both sides run it; a
StartPaymentPaymentHandler made again answers from the record, without authorising twice; the
scheme of README.md's Python section pays a purchase too."""

from __future__ import annotations

import json
import pathlib
import re
import threading
import xml.etree.ElementTree as ET
from typing import Any, Optional

import pytest
from conftest import consumer_config, open_shop, payment_handler_config, readme_python_block

import iotp
from iotp.bridge import packaged_content, packaged_text, response, status

PROTOCOL_ID = "x-iotp-mock"
BRAND_ID = "x-mockcard"
PSD = "PaySchemePackagedContent"
DECLINE_CODES = ["BrandNotSupp", "CurrNotSupp", "AuthError", "InsuffFunds", "InstBrandInvalid",
                 "InstNotValid", "BadInstrument", "Unspecified"]
FINAL = ("CompletedOk", "Failed", "ProcessError")


def field(text: str, key: str) -> Optional[str]:
    """The value of `key` in the mock's `key=value;key=value` scheme data."""
    for part in text.split(";"):
        k, sep, v = part.partition("=")
        if sep and k == key:
            return v
    return None


def encap_error(desc: str) -> iotp.SchemeError:
    return iotp.SchemeError(desc, code="EncapProtErr", element_type="PaySchemeData")


class PyMockScheme(iotp.PaymentBridge):
    """The mock scheme's Payment Handler and Consumer, in Python. Instruments: `approve`,
    `extra-round` (the Payment Handler asks `challenge=N`, the Consumer answers `answer=N+1`),
    `decline-<CompletionCode>`, `timeout` (TransientError). Records: `handler/<PaymentHandlerPayId>`
    and `consumer/<ConsumerPayId>` in the host's key-value space, as JSON."""

    software_id = "iotp python mock scheme 1.0"
    protocols = [PROTOCOL_ID]
    brands = [BRAND_ID]

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, iotp.Host, bytes, bytes]] = []
        """Every call: (name, host, request document, response document)."""
        self.authorisations: list[str] = []
        """The Payment Handler's payment ids, once per authorisation decided."""

    def call(self, host: iotp.Host, request: bytes) -> bytes:
        answer = super().call(host, request)
        with self.lock:
            self.calls.append((ET.fromstring(request)[0].tag.rsplit("}", 1)[-1], host, request, answer))
        return answer

    def called(self, name: str) -> list[tuple[iotp.Host, bytes, bytes]]:
        with self.lock:
            return [(h, q, a) for n, h, q, a in self.calls if n == name]

    # -- records ------------------------------------------------------------------------------

    @staticmethod
    def load(host: iotp.Host, key: str) -> Optional[dict[str, Any]]:
        data = host.kv_get(key)
        if data is None:
            return None
        record: dict[str, Any] = json.loads(data)
        return record

    @staticmethod
    def save(host: iotp.Host, key: str, record: dict[str, Any]) -> None:
        host.kv_put(key, json.dumps(record, sort_keys=True).encode())

    def key_of(self, host: iotp.Host, pay_id: str) -> str:
        for key in (f"handler/{pay_id}", f"consumer/{pay_id}"):
            if host.kv_get(key) is not None:
                return key
        raise iotp.SchemeError(f"no payment {pay_id}", code="AttValIllegal")

    @staticmethod
    def status_of(record: dict[str, Any]) -> dict[str, Optional[str]]:
        final = record["state"] in FINAL
        return status(record["state"], record["code"], 100 if final else 50)

    @staticmethod
    def final_data(record: dict[str, Any], pay_id: str) -> list[ET.Element]:
        """The Payment Handler's last scheme data: `MockAuth` (the receipt) or `MockDecline`."""
        if record["state"] == "CompletedOk":
            text = (f"approved;direction={record['direction']};amount={record['amount']};"
                    f"currency={record['currency']};ref={pay_id}")
            return [packaged_content(PSD, "MockAuth", text)]
        return [packaged_content(PSD, "MockDecline", f"declined;code={record['code'] or 'Unspecified'}")]

    @staticmethod
    def step(call: str, more: bool, data: list[ET.Element]) -> ET.Element:
        return response(call, {"ContStatus": "Continue" if more else "End"}, data)

    # -- Payment Handler ----------------------------------------------------------------------

    def start_payment_payment_handler(self, host: iotp.Host, request: ET.Element) -> ET.Element:
        call = "StartPaymentPaymentHandler"
        pay_id = request.get("PaymentHandlerPayId", "")
        key = f"handler/{pay_id}"
        # A payment already started (a retransmitted or resumed Payment Request) is answered from
        # its record: it is never authorised twice.
        record = self.load(host, key)
        if record is not None:
            if record["challenge"] is not None and record["state"] not in FINAL:
                return self.step(call, True, [packaged_content(PSD, "MockChallenge", f"challenge={record['challenge']}")])
            return self.step(call, False, self.final_data(record, pay_id))
        text = packaged_text(request, PSD, "MockPayment")
        if text is None:
            raise encap_error("the Payment Request has no MockPayment scheme data")
        instrument = field(text, "instrument")
        if instrument is None:
            raise encap_error("MockPayment names no instrument")
        if field(text, "amount") != request.get("Amount") or field(text, "currency") != request.get("CurrCode"):
            raise encap_error("MockPayment's amount or currency differs from the selected CurrencyAmount")
        if instrument == "timeout":
            raise iotp.SchemeError("the mock card processor did not answer in time", code="UnknownError",
                                   severity="TransientError", min_retry_secs=1)
        record = {"state": "CompletedOk", "code": None, "instrument": instrument,
                  "amount": request.get("Amount"), "currency": request.get("CurrCode"),
                  "direction": request.get("PayDirection"), "challenge": None}
        if instrument == "extra-round":
            record["state"] = "InProgress"
            record["challenge"] = int.from_bytes(host.random(4), "big") % 1_000_000
        elif instrument.startswith("decline-"):
            record["state"], record["code"] = "Failed", instrument[len("decline-"):]
        elif instrument != "approve":
            record["state"], record["code"] = "Failed", "BadInstrument"
        if not host.kv_insert_if_absent(key, json.dumps(record, sort_keys=True).encode()):
            raise iotp.SchemeError("this payment is being started by another request", code="MsgBeingProc",
                                   severity="TransientError", min_retry_secs=1)
        with self.lock:
            self.authorisations.append(pay_id)
        host.log("info", f"python mock payment {pay_id}: {record['state']}")
        if record["challenge"] is not None:
            return self.step(call, True, [packaged_content(PSD, "MockChallenge", f"challenge={record['challenge']}")])
        return self.step(call, False, self.final_data(record, pay_id))

    def continue_process(self, host: iotp.Host, request: ET.Element) -> ET.Element:
        call = "ContinueProcess"
        if request.get("ProcessType") == "Inquiry" or request.get("ErrorSeverity") == "HardError":
            return self.step(call, False, [])
        pay_id = request.get("PayId", "")
        key = self.key_of(host, pay_id)
        record = self.load(host, key)
        assert record is not None
        if key.startswith("consumer/"):
            # The Consumer's side: answer a challenge, or take the final data.
            challenge = field(packaged_text(request, PSD, "MockChallenge") or "", "challenge")
            if challenge is not None and challenge.isdigit():
                return self.step(call, True, [packaged_content(PSD, "MockChallengeResp", f"answer={int(challenge) + 1}")])
            if packaged_text(request, PSD, "MockAuth") is not None:
                record["state"] = "CompletedOk"
            elif (declined := packaged_text(request, PSD, "MockDecline")) is not None:
                record["state"], record["code"] = "Failed", field(declined, "code")
            self.save(host, key, record)
            return self.step(call, False, [])
        # The Payment Handler's side: check the answer to the challenge.
        if record["state"] in FINAL:
            return self.step(call, False, self.final_data(record, pay_id))
        answer = field(packaged_text(request, PSD, "MockChallengeResp") or "", "answer")
        if answer is None or not answer.isdigit():
            raise encap_error("expected MockChallengeResp")
        if int(answer) == record["challenge"] + 1:
            record["state"] = "CompletedOk"
        else:
            record["state"], record["code"] = "Failed", "AuthError"
        record["challenge"] = None
        self.save(host, key, record)
        return self.step(call, False, self.final_data(record, pay_id))

    def inquire_process_state(self, host: iotp.Host, request: ET.Element) -> ET.Element:
        pay_id = request.get("PayId", "")
        key = self.key_of(host, pay_id)
        record = self.load(host, key)
        assert record is not None
        attributes = self.status_of(record)
        receipt = []
        if record["state"] == "CompletedOk" and key.startswith("handler/"):
            # The receipt: the MockAuth of the last scheme data, and this.
            attributes["PayReceiptNameRefs"] = "MockAuth"
            receipt.append(packaged_content(
                "PackagedContent", "MockReceipt",
                f"paid;amount={record['amount']};currency={record['currency']};ref={pay_id}"))
        return response("InquireProcessState", attributes, receipt)

    def change_process_state(self, host: iotp.Host, request: ET.Element) -> ET.Element:
        key = self.key_of(host, request.get("PayId", ""))
        record = self.load(host, key)
        assert record is not None
        # A change request on a final state returns the old state, with no error.
        if record["state"] not in FINAL:
            record["state"], record["code"] = request.get("ProcessState"), request.get("CompletionCode")
            self.save(host, key, record)
        return response("ChangeProcessState", self.status_of(record))

    def inquire_payment_status(self, host: iotp.Host, request: ET.Element) -> ET.Element:
        pay_id = request.get("PaymentHandlerPayId", "")
        record = self.load(host, f"handler/{pay_id}")
        if record is None:
            raise iotp.SchemeError(f"no payment {pay_id}", code="AttValIllegal")
        attributes = {"PaymentHandlerPayId": pay_id, **self.status_of(record)}
        return response("InquirePaymentStatus", attributes,
                        [packaged_content(PSD, "MockStatus", f"state={record['state']}")])

    def remove_payment_log(self, host: iotp.Host, request: ET.Element) -> ET.Element:
        host.kv_delete(self.key_of(host, request.get("PayId", "")))
        return response("RemovePaymentLog")

    # -- Consumer -----------------------------------------------------------------------------

    def find_payment_instrument(self, host: iotp.Host, request: ET.Element) -> ET.Element:
        ids = ["approve", "extra-round", "timeout"] + [f"decline-{c}" for c in DECLINE_CODES]
        instruments = [ET.Element("PayInstrument", {"Id": i, "PayInstName": f"Python mock card: {i}"}) for i in ids]
        return response("FindPaymentInstrument", children=instruments)

    def check_payment_possibility(self, host: iotp.Host, request: ET.Element) -> ET.Element:
        instrument = request.get("PaymentInstrumentId", "approve")
        return response("CheckPaymentPossibility", children=[
            packaged_content("BrandSelBrandInfoPackagedContent", "MockSelection", f"instrument={instrument}")])

    def start_payment_consumer(self, host: iotp.Host, request: ET.Element) -> ET.Element:
        instrument = request.get("PaymentInstrumentId", "approve")
        record = {"state": "InProgress", "code": None, "instrument": instrument,
                  "amount": request.get("Amount"), "currency": request.get("CurrCode"),
                  "direction": request.get("PayDirection"), "challenge": None}
        self.save(host, f"consumer/{request.get('ConsumerPayId')}", record)
        text = (f"instrument={instrument};amount={record['amount']};currency={record['currency']};"
                f"direction={record['direction']}")
        return self.step("StartPaymentConsumer", True, [packaged_content(PSD, "MockPayment", text)])

    def start_payment_inquiry(self, host: iotp.Host, request: ET.Element) -> ET.Element:
        return response("StartPaymentInquiry", children=[
            packaged_content(PSD, "MockInquiry", f"consumer-pay-id={request.get('ConsumerPayId')}")])

    def check_payment_receipt(self, host: iotp.Host, request: ET.Element) -> ET.Element:
        if not (packaged_text(request, "PackagedContent", "MockAuth") or "").startswith("approved;"):
            raise iotp.BusinessError("the receipt has no MockAuth approval")
        return response("CheckPaymentReceipt")


def purchase(base: str, tmp_path: pathlib.Path, plugin_dir: pathlib.Path, instrument: str,
             consumer_scheme: Optional[PyMockScheme] = None) -> iotp.Outcome:
    """Jane buys the books with `instrument`, with the mock plugin or `consumer_scheme`."""
    def choose(options: list[dict[str, Any]]) -> Optional[int]:
        return next(i for i, o in enumerate(options) if o["instrument_id"] == instrument)

    config = consumer_config(tmp_path, plugin_dir, scheme=None if consumer_scheme else "mock")
    with iotp.Node(config, choose=choose, scheme=consumer_scheme) as consumer:
        outcome = consumer.pay(base + "/pay/books", timeout=30)
        if outcome.process_state == "CompletedOk":
            assert consumer.inquire(outcome.iotp_trans_id, "Payment", timeout=30) == ("CompletedOk", None)
        return outcome


def authorisation(scheme: PyMockScheme, outcome: iotp.Outcome) -> tuple[str, dict[str, Any]]:
    """The Payment Handler's payment id of a purchase and the scheme's record of it."""
    started = scheme.called("StartPaymentPaymentHandler")
    assert len(started) == 1, [n for n, *_ in scheme.calls]
    host, request, _ = started[0]
    pay_id = ET.fromstring(request)[0].get("PaymentHandlerPayId", "")
    assert outcome.receipts == [] or outcome.receipts[0].process_reference == pay_id
    record = PyMockScheme.load(host, f"handler/{pay_id}")
    assert record is not None
    return pay_id, record


@pytest.mark.parametrize("instrument, rounds", [("approve", 0), ("extra-round", 1)])
def test_a_purchase_with_a_payment_handler_scheme_in_python(tmp_path: pathlib.Path, plugin_dir: pathlib.Path,
                                                            instrument: str, rounds: int) -> None:
    scheme = PyMockScheme()
    with open_shop(tmp_path, plugin_dir, ph_scheme=scheme) as (base, merchant, ph):
        outcome = purchase(base, tmp_path, plugin_dir, instrument)
        assert outcome.process_state == "CompletedOk", outcome
        assert outcome.completion_code is None
        receipt = outcome.receipts[0]
        pay_id, record = authorisation(scheme, outcome)
        assert receipt.process_reference == pay_id
        # The receipt is the Python scheme's: its MockAuth and MockReceipt.
        texts = [text for _, text in receipt.parts]
        assert f"approved;direction=Debit;amount=39.95;currency=USD;ref={pay_id}" in texts, receipt.parts
        assert f"paid;amount=39.95;currency=USD;ref={pay_id}" in texts, receipt.parts
        assert record == {"state": "CompletedOk", "code": None, "instrument": instrument, "amount": "39.95",
                          "currency": "USD", "direction": "Debit", "challenge": None}
        assert scheme.authorisations == [pay_id]
        names = [n for n, *_ in scheme.calls]
        assert names.count("ContinueProcess") == rounds, names
        assert {"InquireProcessState", "ChangeProcessState", "InquirePaymentStatus"} <= set(names), names
        state = ph.transaction_state(outcome.iotp_trans_id, "PaymentHandler")
        assert state is not None and state["process_state"] == "CompletedOk", state


def test_a_declined_payment_with_a_payment_handler_scheme_in_python(tmp_path: pathlib.Path,
                                                                    plugin_dir: pathlib.Path) -> None:
    scheme = PyMockScheme()
    with open_shop(tmp_path, plugin_dir, ph_scheme=scheme) as (base, merchant, ph):
        outcome = purchase(base, tmp_path, plugin_dir, "decline-InsuffFunds")
        assert (outcome.process_state, outcome.completion_code) == ("Failed", "InsuffFunds"), outcome
        assert outcome.receipts == []
        pay_id, record = authorisation(scheme, outcome)
        assert (record["state"], record["code"]) == ("Failed", "InsuffFunds")
        assert scheme.authorisations == [pay_id]


def test_a_repeated_start_payment_is_answered_from_the_record(tmp_path: pathlib.Path,
                                                              plugin_dir: pathlib.Path) -> None:
    scheme = PyMockScheme()
    with open_shop(tmp_path, plugin_dir, ph_scheme=scheme) as (base, merchant, ph):
        outcome = purchase(base, tmp_path, plugin_dir, "extra-round")
        assert outcome.process_state == "CompletedOk", outcome
        pay_id, record = authorisation(scheme, outcome)
        host, request, first = scheme.called("StartPaymentPaymentHandler")[0]
        key = f"handler/{pay_id}"
        stored = host.kv_get(key)
        # The engine's request again, twice, with the node's own host: the payment has ended since
        # (the challenge answered), so both answers are the final data, and nothing is authorised.
        again = [scheme.call(host, request) for _ in range(2)]
        assert again[0] == again[1]
        answer = ET.fromstring(again[0])[0]
        assert answer.tag.endswith("StartPaymentPaymentHandlerResponse") and answer.get("ContStatus") == "End"
        assert packaged_text(answer, PSD, "MockAuth") == f"approved;direction=Debit;amount=39.95;currency=USD;ref={pay_id}"
        assert scheme.authorisations == [pay_id]
        assert host.kv_get(key) == stored
        # A payment started afresh (a new payment id): one authorisation, then the same answer.
        fresh = request.replace(pay_id.encode(), b"P-python-again")
        assert fresh != request
        first_fresh = scheme.call(host, fresh)
        assert scheme.call(host, fresh) == first_fresh
        assert scheme.authorisations == [pay_id, "P-python-again"]
        assert PyMockScheme.load(host, "handler/P-python-again") is not None
        assert host.kv_get(key) == stored
        assert ET.fromstring(first_fresh)[0].get("ContStatus") == "Continue"
        assert packaged_text(ET.fromstring(first_fresh)[0], PSD, "MockChallenge") is not None


def test_the_log_lines_of_a_python_scheme_reach_the_node_log(tmp_path: pathlib.Path,
                                                             plugin_dir: pathlib.Path) -> None:
    """`host.log("info", ...)` during a call goes where a scheme plugin's lines go: the engine
    reports it with the call and the node writes it to its log (`<data_dir>/node.log`) as
    `INFO  <node>: Info [<software id>] <message>`, as it does the Rust mock plugin's line in the
    same purchase; outside the engine's calls, straight to the node's log at its level."""
    logged: dict[str, list[str]] = {}
    for side, scheme in [("plugin", None), ("python", PyMockScheme())]:
        with open_shop(tmp_path / side, plugin_dir, ph_scheme=scheme) as (base, merchant, ph):
            outcome = purchase(base, tmp_path / side, plugin_dir, "approve")
            assert outcome.process_state == "CompletedOk", outcome
            pay_id = outcome.receipts[0].process_reference
            assert pay_id
            if scheme is not None:
                # The scheme called by the application itself, not by the engine.
                host, request, _ = scheme.called("StartPaymentPaymentHandler")[0]
                scheme.call(host, request.replace(pay_id.encode(), b"P-python-outside"))
        log = (tmp_path / side / "ph" / "node.log").read_text()
        logged[side] = [line for line in log.splitlines() if "mock payment " in line]
        assert any(f"mock payment {pay_id}: CompletedOk" in line for line in logged[side]), log
    plugin_line = rf" INFO  payment-handler: Info \[[^]]+\] mock payment P\S+: CompletedOk$"
    assert len(logged["plugin"]) == 1 and re.search(plugin_line, logged["plugin"][0]), logged
    python_lines = [
        rf" INFO  payment-handler: Info \[{re.escape(PyMockScheme.software_id)}\] python mock payment P\S+: CompletedOk$",
        r" INFO  payment-handler: python mock payment P-python-outside: CompletedOk$",
    ]
    assert len(logged["python"]) == 2, logged
    for pattern, line in zip(python_lines, logged["python"]):
        assert re.search(pattern, line), (pattern, logged)


@pytest.mark.parametrize("instrument, state, code", [("approve", "CompletedOk", None),
                                                     ("extra-round", "CompletedOk", None),
                                                     ("decline-BadInstrument", "Failed", "BadInstrument")])
def test_a_purchase_with_both_schemes_in_python(tmp_path: pathlib.Path, plugin_dir: pathlib.Path,
                                                instrument: str, state: str, code: Optional[str]) -> None:
    ph_scheme, consumer_scheme = PyMockScheme(), PyMockScheme()
    with open_shop(tmp_path, plugin_dir, ph_scheme=ph_scheme) as (base, merchant, ph):
        outcome = purchase(base, tmp_path, plugin_dir, instrument, consumer_scheme)
        assert (outcome.process_state, outcome.completion_code) == (state, code), outcome
        pay_id, _ = authorisation(ph_scheme, outcome)
        assert ph_scheme.authorisations == [pay_id]
        names = [n for n, *_ in consumer_scheme.calls]
        for call in ["FindPaymentInstrument", "CheckPaymentPossibility", "StartPaymentConsumer"]:
            assert names.count(call) == 1, names
        if state == "CompletedOk":
            assert "CheckPaymentReceipt" in names and "StartPaymentInquiry" in names, names
        # The Consumer's record followed the payment to its end.
        host, request, _ = consumer_scheme.called("StartPaymentConsumer")[0]
        consumer_pay_id = ET.fromstring(request)[0].get("ConsumerPayId", "")
        record = PyMockScheme.load(host, f"consumer/{consumer_pay_id}")
        assert record is not None and (record["state"], record["code"]) == (state, code), record


def test_a_transient_error_of_a_python_scheme_reaches_the_consumer(tmp_path: pathlib.Path,
                                                                   plugin_dir: pathlib.Path) -> None:
    """`SchemeError(..., severity="TransientError", min_retry_secs=1)` (the `timeout` instrument)
    is the call's ErrorResponse: the Consumer retries after it, then gives up; nothing is
    authorised nor recorded."""
    scheme = PyMockScheme()
    with open_shop(tmp_path, plugin_dir, ph_scheme=scheme) as (base, merchant, ph):
        outcome = purchase(base, tmp_path, plugin_dir, "timeout")
        assert outcome.process_state == "Failed", outcome
        started = scheme.called("StartPaymentPaymentHandler")
        assert len(started) > 1, [n for n, *_ in scheme.calls]
        for host, request, answer in started:
            error = ET.fromstring(answer)[0]
            assert error.tag.endswith("ErrorResponse")
            assert (error.get("ErrorCode"), error.get("Severity"), error.get("MinRetrySecs")) == \
                ("UnknownError", "TransientError", "1")
            pay_id = ET.fromstring(request)[0].get("PaymentHandlerPayId", "")
            assert host.kv_get(f"handler/{pay_id}") is None
        assert scheme.authorisations == []


def test_the_readme_scheme_pays_a_purchase(repo: pathlib.Path, tmp_path: pathlib.Path, plugin_dir: pathlib.Path) -> None:
    block = readme_python_block(repo, "A test pays a purchase with this")
    names: dict[str, Any] = {"payment_handler_toml": payment_handler_config(tmp_path / "readme", plugin_dir, 1, scheme=None)}
    exec(compile(block, "README.md", "exec"), names)
    names["payment_handler"].close()
    with open_shop(tmp_path, plugin_dir, ph_scheme=names["ApproveAll"]()) as (base, merchant, ph):
        outcome = purchase(base, tmp_path, plugin_dir, "approve")
        assert outcome.process_state == "CompletedOk", outcome
        receipt = outcome.receipts[0]
        assert sorted(receipt.parts) == [("MockAuth", f"approved;ref={receipt.process_reference}"),
                                         ("MockReceipt", "paid;amount=39.95")], receipt.parts
