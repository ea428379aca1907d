"""Bench ratios per interpreter, side by side (issue 13; docs/install.md).

    nox -s bench                       # writes .bench/bench-3.X.json per interpreter
    python scripts/bench_pythons.py .bench/bench-3.11.json .bench/bench-3.12.json ...

The first file is the reference interpreter. For every scenario with a ratio
(ours / its anchor, as ``admf-perf bench`` computes it), the table gives each
interpreter's ratio and how much worse it is relative to the reference's;
a change over ``--max-worse`` (default 10%) is flagged, and the exit status
is 1 when any is. Only runs of one mode compare (deterministic or
wall-clock), and a ratio never compares across modes.
"""
from __future__ import annotations

import argparse
import json
import sys


def _load(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _python(run: dict) -> str:
    return run["machine"]["python"]["version"]


def table(runs: list[dict], max_worse: float) -> tuple[list[str], list[str]]:
    """The Markdown lines, and the scenarios over ``max_worse``."""
    modes = {r["mode"] for r in runs}
    if len(modes) != 1:
        raise SystemExit(f"bench_pythons: runs of different modes ({sorted(modes)}) do not compare")
    ratios = [{s["name"]: s for s in r["scenarios"] if s.get("ratio") is not None} for r in runs]
    pys = [_python(r) for r in runs]
    head = "| scenario | anchor | " + " | ".join(pys) + " | " + " | ".join(f"{p} vs {pys[0]}" for p in pys[1:]) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(pys) - 1)]
    worse = []
    for name, ref in ratios[0].items():
        cells, deltas = [], []
        for r in ratios:
            s = r.get(name)
            cells.append(f"{s['ratio']:.3f}" if s else "--")
        for r, py in zip(ratios[1:], pys[1:], strict=True):
            s = r.get(name)
            if not s:
                deltas.append("--")
                continue
            d = s["ratio"] / ref["ratio"] - 1.0
            flag = ""
            if d > max_worse:
                flag = " **over**"
                worse.append(f"{name} on {py}: {d:+.1%}")
            deltas.append(f"{d:+.1%}{flag}")
        lines.append(f"| {name} | {ref['reference']} | " + " | ".join(cells) + " | " + " | ".join(deltas) + " |")
    return lines, worse


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="admf-perf bench --json files; the first is the reference")
    ap.add_argument("--max-worse", type=float, default=0.10, help="flag a ratio this much worse (default 0.10)")
    ap.add_argument("--markdown", help="also write the table here")
    args = ap.parse_args(argv)
    if args.max_worse < 0:
        ap.error("--max-worse must be >= 0")
    runs = [_load(p) for p in args.runs]
    lines, worse = table(runs, args.max_worse)
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(text)
    for w in worse:
        print(f"over {args.max_worse:.0%} worse: {w}")
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
