"""validate / parse / to_xml: the same verdicts, codes and bytes as the `iotp` command."""

from __future__ import annotations

import json
import pathlib
import subprocess

import pytest

import iotp


def corpus(repo: pathlib.Path) -> list[pathlib.Path]:
    files = sorted((repo / "tests/data/valid").rglob("*.xml")) + sorted((repo / "tests/data/invalid").rglob("*.xml"))
    assert len(files) > 100
    return files


def test_verdicts_and_codes_match_the_cli(repo: pathlib.Path, iotp_bin: str) -> None:
    files = corpus(repo)
    out = subprocess.run([iotp_bin, "validate", "--json", *map(str, files)], capture_output=True, text=True)
    assert out.returncode in (0, 1), out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(lines) == len(files)
    valid = invalid = 0
    for path, cli in zip(files, lines):
        problems = iotp.validate(path.read_bytes())
        ours = [(p.code, p.severity, p.element, p.attribute, p.line) for p in problems]
        theirs = [(e["code"], e["severity"], e["element"], e["attribute"], e["line"]) for e in cli["errors"]]
        assert ours == theirs, path
        assert (not any(p.is_error for p in problems)) == cli["valid"], path
        valid += cli["valid"]
        invalid += not cli["valid"]
    assert valid > 40 and invalid > 80


def test_parse_and_to_xml_give_the_canonical_form(repo: pathlib.Path, iotp_bin: str) -> None:
    for path in sorted((repo / "tests/data/valid").rglob("*.xml"))[:20]:
        data = path.read_bytes()
        message = iotp.parse(data)
        fmt = subprocess.run([iotp_bin, "fmt", str(path)], capture_output=True, check=True).stdout
        assert message.to_xml() == fmt, "the bytes of `iotp fmt`"
        again = iotp.parse(message.to_xml())
        assert again.to_xml() == message.to_xml()
        trans_id = message.root.find("TransId")
        assert trans_id is not None
        assert message.iotp_trans_id == trans_id.get("IotpTransId")
        assert [b.tag for b in message.blocks] == message.block_tags


def test_navigating_a_message(repo: pathlib.Path) -> None:
    path = next(p for p in sorted((repo / "tests/data/valid").rglob("*.xml")) if b"<BrandList" in p.read_bytes())
    message = iotp.parse(path.read_bytes())
    tpo = next(b for b in message.blocks if b.tag == "TpoBlk")
    brands = tpo.findall("Brand")
    assert brands and all(b.get("BrandId") for b in brands)
    assert brands[0].id is not None
    assert tpo.find("NoSuchElement") is None
    assert message.root.tag == "IotpMessage"
    assert len(message.root) == len(message.root.children)
    assert isinstance(message.root.attributes, dict)


def test_broken_input_raises_parse_error_with_the_problems() -> None:
    for data in [b"", b"<IotpMessage>", b"\xff\xfe\x00", b"<a/>", b"<!DOCTYPE x [<!ENTITY a 'b'>]><x/>"]:
        with pytest.raises(iotp.ParseError) as caught:
            iotp.parse(data)
        assert isinstance(caught.value, ValueError)
        assert isinstance(caught.value, iotp.IotpError)
        assert caught.value.errors, data
        assert all(isinstance(e, iotp.ValidationError) for e in caught.value.errors)
        assert iotp.validate(data) and any(e.is_error for e in iotp.validate(data))


def test_parse_error_names_the_first_error_and_carries_every_problem(repo: pathlib.Path) -> None:
    data = (repo / "tests/data/invalid/elmissing-msgid.xml").read_bytes()
    problems = iotp.validate(data)
    with pytest.raises(iotp.ParseError) as caught:
        iotp.parse(data)
    first = next(p for p in problems if p.is_error)
    assert str(caught.value) == f"{first.code} {first.element}: {first.message}"
    fields = [(p.code, p.severity, p.element, p.attribute, p.line, p.message) for p in problems]
    assert [(e.code, e.severity, e.element, e.attribute, e.line, e.message) for e in caught.value.errors] == fields
    assert isinstance(caught.value.errors, list)
    caught.value.errors = []  # a plain attribute, as before
    assert caught.value.errors == []


def test_validation_errors_outlive_the_report_and_share_their_codes(repo: pathlib.Path) -> None:
    """A ValidationError holds its problem itself (moved out of the report when it was made);
    codes and severities, from fixed lists, are one Python string each per interpreter."""
    problems = iotp.validate((repo / "tests/data/invalid/elmissing-msgid.xml").read_bytes())
    assert [p.code for p in problems] == ["AttValIllegal", "AttValIllegal", "AttValIllegal", "ElMissing"]
    assert problems[0].code is problems[1].code is problems[2].code
    assert problems[0].severity is problems[3].severity == "HardError"
    again = iotp.validate((repo / "tests/data/invalid/elmissing-msgid.xml").read_bytes())
    assert again[0].code is problems[0].code
    for p in problems:
        assert isinstance(p.code, str) and isinstance(p.severity, str) and isinstance(p.element, str)
        assert p.attribute is None or isinstance(p.attribute, str)
        assert p.line is None or isinstance(p.line, int)
        assert isinstance(p.message, str) and p.message
        assert p.is_error
        attribute = "None" if p.attribute is None else f'"{p.attribute}"'
        assert repr(p) == (
            f'ValidationError(code="{p.code}", severity="{p.severity}", element="{p.element}", '
            f'attribute={attribute}, line={p.line}, message="{p.message}")'
        )


def test_invalid_message_lists_each_problem(repo: pathlib.Path) -> None:
    expected = (repo / "tests/data/invalid/EXPECTED.tsv").read_text().splitlines()
    checked = 0
    for line in expected:
        if not line or line.startswith("#") or line.startswith("file"):
            continue
        name, code = line.split("\t")[:2]
        path = repo / "tests/data/invalid" / name
        if not path.is_file():
            continue
        codes = {p.code for p in iotp.validate(path.read_bytes())}
        assert code in codes, (name, codes)
        checked += 1
    assert checked > 50


def test_version() -> None:
    assert iotp.__version__.count(".") == 2
