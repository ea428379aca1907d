"""The bench's picture (``admf-perf bench --plot PATH``): one horizontal bar
per gated scenario, its ratio as a fraction of its gate (1.0 is the gate), on
a log scale, coloured by verdict.  Needs matplotlib, the optional ``[plot]``
extra; written only when asked for."""
from __future__ import annotations

import os
from collections.abc import Sequence

from admf_perf.bench.report import FAIL, OPEN, PASS, ScenarioResult

__all__ = ["PLOT_EXTRA", "write_plot"]

#: What to install when matplotlib is missing.
PLOT_EXTRA = 'pip install "admf-perf[plot]"  (matplotlib)'

_COLOURS = {PASS: "#2e7d32", OPEN: "#f9a825", FAIL: "#c62828"}


def write_plot(results: Sequence[ScenarioResult], path: str | os.PathLike[str], margin: float = 0.0,
               strict: bool = False, title: str | None = None) -> int:
    """Draw the gated scenarios that have a ratio into ``path`` (PNG, or any
    format matplotlib infers from the suffix); returns how many bars.
    Raises ImportError (naming the extra) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(f"--plot needs matplotlib: {PLOT_EXTRA}") from exc
    rows = [(r.scenario.name, r.ratio / r.scenario.gate.max_ratio, r.ratio, r.verdict(margin, strict))
            for r in results if r.scenario.gate is not None and r.ratio is not None]
    height = max(2.5, 0.22 * len(rows) + 1.2)
    fig, ax = plt.subplots(figsize=(10, height))
    try:
        names = [name for name, *_ in rows]
        fractions = [fraction for _, fraction, *_ in rows]
        ax.barh(range(len(rows)), fractions, color=[_COLOURS.get(v, "#9e9e9e") for *_, v in rows])
        ax.set_yticks(range(len(rows)), labels=names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.axvline(1.0, color="black", linewidth=1)
        if margin:
            ax.axvline(1.0 + margin, color="black", linewidth=0.8, linestyle="--")
        for i, (_, fraction, ratio, _verdict) in enumerate(rows):
            ax.text(fraction, i, f" {ratio:.2f}x", va="center", fontsize=6)
        ax.set_xlabel("ratio ours / anchor, as a fraction of its gate (1 = the gate; left of it passes)")
        ax.set_title(title or "admf-perf bench", fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
    return len(rows)
