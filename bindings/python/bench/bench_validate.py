"""iotp.parse + iotp.validate against lxml (parse + DTD validation) on the same bytes, in the
same process: the 6 KB TPO + Offer Response sample of ../shared/spec/perf-samples.

    .venv/bin/maturin develop --release -m bindings/python/Cargo.toml
    .venv/bin/python bindings/python/bench/bench_validate.py [SAMPLE]

The sample is DTD-valid but not valid IOTP (its Organisations lack the net locations §7.6.2
requires, ...): `iotp.parse` raises ParseError on it, after the same reading and validation, so
it is timed as raised. Prints the median of 7 rounds of ~0.3 s each, per call.
"""

from __future__ import annotations

import pathlib
import statistics
import sys
import time
from typing import Callable

from lxml import etree

import iotp

ROOT = pathlib.Path(__file__).resolve().parents[3]
SPEC = ROOT.parent / "shared" / "spec"


def per_call(f: Callable[[], object]) -> float:
    """Median seconds per call over 7 rounds of about 0.3 s."""
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            f()
        if time.perf_counter() - t > 0.05:
            break
        n *= 2
    n = max(1, int(n * 0.3 / 0.05))
    rounds = []
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(n):
            f()
        rounds.append((time.perf_counter() - t) / n)
    return statistics.median(rounds)


def main() -> None:
    sample = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else SPEC / "perf-samples" / "tpo_offer_6k.xml"
    data = sample.read_bytes()
    dtd = etree.DTD(str(SPEC / "rfc-examples" / "iotp-v1.0-corrected.dtd"))
    parser = etree.XMLParser(resolve_entities=False)

    def lxml_parse_validate() -> bool:
        return bool(dtd.validate(etree.fromstring(data, parser)))

    def iotp_validate() -> list[iotp.ValidationError]:
        return iotp.validate(data)

    def iotp_parse() -> object:
        try:
            return iotp.parse(data)
        except iotp.ParseError as e:
            return e

    def iotp_parse_and_validate() -> object:
        iotp_parse()
        return iotp_validate()

    lxml_t = per_call(lxml_parse_validate)
    rows = [
        ("lxml: fromstring + DTD validate", lxml_t),
        ("iotp.validate", per_call(iotp_validate)),
        ("iotp.parse", per_call(iotp_parse)),
        ("iotp.parse + iotp.validate", per_call(iotp_parse_and_validate)),
    ]
    print(f"{sample.name} ({len(data)} B), iotp {iotp.__version__}")
    for name, t in rows:
        print(f"  {name:<34} {t * 1e6:8.1f} us   {lxml_t / t:5.2f}x lxml")


if __name__ == "__main__":
    main()
