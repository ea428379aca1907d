"""Hit ratios of the cache policies on three traces, beside theine's.

``python -m admf_perf.bench.hitratio [--json PATH] [--quick]`` prints a
Markdown table (docs/caching.md, "Choosing a policy", shows one). Each
request is a get-or-set: a miss stores the key. The hit ratio is hits over
requests, in percent, for:

- ``OLTP``: the ARC paper's OLTP trace (``../shared/data/traces/OLTP.lis.gz``,
  914,145 requests, keyed by starting block), a recency-heavy database trace;
- ``Zipf``: the bench's Zipf(1.0) trace (1,000,000 requests over 100,000
  keys, ``caching.zipf_trace``);
- ``scan mix``: that Zipf trace with a loop of ``SCAN_LENGTH`` never-seen
  keys after every ``SCAN_EVERY`` requests (a parameter sweep through a
  working set).

theine (``pip install theine``, in the ``[bench]`` extra) is W-TinyLFU's
Python anchor; a missing theine leaves its column empty.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from admf_perf.bench.caching import zipf_trace
from admf_perf.bench.scenario import shared_data_file

__all__ = ["POLICIES", "SCAN_EVERY", "SCAN_LENGTH", "hit_ratio", "hit_ratio_table", "oltp_trace",
           "scan_mix_trace", "traces"]

POLICIES = ("lru", "lfu", "wtinylfu")
SCAN_EVERY = 10_000
SCAN_LENGTH = 5_000
SCAN_FIRST_KEY = 10**12      # scan keys: never a Zipf key


def oltp_trace() -> list[int] | None:
    """The OLTP trace's starting blocks, or None when ../shared/data is not here."""
    path = shared_data_file("traces", "OLTP.lis.gz")
    if path is None:
        return None
    with gzip.open(path, "rt") as fh:
        return [int(line.split(None, 1)[0]) for line in fh if line.strip()]


def scan_mix_trace(base: Sequence[int], every: int = SCAN_EVERY, length: int = SCAN_LENGTH) -> list[int]:
    """``base`` with ``length`` fresh keys after each ``every`` requests."""
    out: list[int] = []
    fresh = SCAN_FIRST_KEY
    for start in range(0, len(base), every):
        out.extend(base[start:start + every])
        out.extend(range(fresh, fresh + length))
        fresh += length
    return out


def traces(quick: bool = False) -> dict[str, list[int]]:
    """The traces by name (OLTP only when the shared data is here)."""
    zipf = zipf_trace(quick)
    out = {"Zipf": zipf, "scan mix": scan_mix_trace(zipf)}
    oltp = oltp_trace()
    if oltp is not None:
        out = {"OLTP": oltp[:100_000] if quick else oltp, **out}
    return out


def _ours(policy: str, size: int) -> Callable[[Iterable[Any]], int]:
    def replay(trace: Iterable[Any]) -> int:
        from admf_perf import Cache

        cache = Cache(max_size=size, strategy=policy)
        missing = object()
        get, put = cache.get, cache.set
        hits = 0
        for key in trace:
            if get(key, missing) is missing:
                put(key, key)
            else:
                hits += 1
        return hits

    return replay


def _theine(size: int) -> Callable[[Iterable[Any]], int] | None:
    try:
        from theine import Cache
    except ImportError:
        return None

    def replay(trace: Iterable[Any]) -> int:
        cache = Cache(size)
        get, put = cache.get, cache.set
        hits = 0
        for key in trace:
            if get(key)[1]:
                hits += 1
            else:
                put(key, key)
        return hits

    return replay


def hit_ratio(replay: Callable[[Iterable[Any]], int], trace: Sequence[Any]) -> float:
    """Percent of the requests of ``trace`` that ``replay`` counted as hits."""
    return 100.0 * replay(trace) / len(trace) if trace else 0.0


def hit_ratio_table(sizes: Sequence[int] = (1_000, 10_000, 100_000), quick: bool = False) -> list[dict[str, Any]]:
    """One row per trace and size: the hit ratio of each policy and of theine."""
    rows = []
    for name, trace in traces(quick).items():
        for size in sizes:
            row: dict[str, Any] = {"trace": name, "size": size}
            for policy in POLICIES:
                row[policy] = hit_ratio(_ours(policy, size), trace)
            theine = _theine(size)
            row["theine"] = None if theine is None else hit_ratio(theine, trace)
            rows.append(row)
    return rows


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    head = ["trace", "size", *POLICIES, "theine", "W-TinyLFU - LRU", "W-TinyLFU - theine"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        theine = r["theine"]
        cells = [r["trace"], f"{r['size']:,}", *(f"{r[p]:.2f}" for p in POLICIES),
                 "-" if theine is None else f"{theine:.2f}", f"{r['wtinylfu'] - r['lru']:+.2f}",
                 "-" if theine is None else f"{r['wtinylfu'] - theine:+.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m admf_perf.bench.hitratio", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the first 100,000 requests of each trace")
    p.add_argument("--sizes", default="1000,10000,100000", help="cache sizes, comma-separated")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = p.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        p.error(f"--sizes: comma-separated integers; got {args.sizes!r}")
    rows = hit_ratio_table(sizes, args.quick)
    print(markdown(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
