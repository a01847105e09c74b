"""iotp.parse + iotp.validate against lxml (parse + DTD validation) on the same bytes, in the
same process: the 6 KB TPO + Offer Response sample of ../shared/spec/perf-samples.

    .venv/bin/maturin develop --release -m bindings/python/Cargo.toml
    .venv/bin/python bindings/python/bench/bench_validate.py [SAMPLE]

The sample is DTD-valid but not valid IOTP (its Organisations lack the net locations §7.6.2
requires, ...): `iotp.parse` raises ParseError on it, after the same reading and validation, so
it is timed as raised. Prints, per call, the median of 7 rounds of about 0.3 s for each
function; the functions take turns within each round, so that a machine whose load changes
during the run slows them alike, and the ratio is the median of the rounds' own ratios.
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


def calls_for(f: Callable[[], object], seconds: float) -> int:
    """How many calls of f take about `seconds`."""
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            f()
        if time.perf_counter() - t > 0.05:
            return max(1, int(n * seconds / 0.05))
        n *= 2


def per_call(fs: list[Callable[[], object]]) -> list[list[float]]:
    """Seconds per call of each function, in 7 rounds of about 0.3 s each, taking turns."""
    counts = [calls_for(f, 0.3) for f in fs]
    rounds: list[list[float]] = [[] for _ in fs]
    for _ in range(7):
        for f, n, times in zip(fs, counts, rounds):
            t = time.perf_counter()
            for _ in range(n):
                f()
            times.append((time.perf_counter() - t) / n)
    return rounds


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

    names = [
        "lxml: fromstring + DTD validate",
        "iotp.validate",
        "iotp.parse",
        "iotp.parse + iotp.validate",
    ]
    rounds = per_call([lxml_parse_validate, iotp_validate, iotp_parse, iotp_parse_and_validate])
    lxml_rounds = rounds[0]
    print(f"{sample.name} ({len(data)} B), iotp {iotp.__version__}")
    for name, times in zip(names, rounds):
        ratio = statistics.median(lx / t for lx, t in zip(lxml_rounds, times))
        print(f"  {name:<34} {statistics.median(times) * 1e6:8.1f} us   {ratio:5.2f}x lxml")


if __name__ == "__main__":
    main()
