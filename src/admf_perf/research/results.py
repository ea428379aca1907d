"""Every result of a search kept: ``--results PATH`` (CSV or Parquet, one
row per run, streamed as chunks finish) and ``--heatmap PATH`` (PNG or HTML:
the metric over two parameters, the others at their best).

Memory stays bounded: a chunk's rows are written when it finishes and then
dropped; the heatmap keeps one score per run (8 bytes), never the rows.
"""
from __future__ import annotations

import csv
import html
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["ResultsWriter", "check_heatmap_path", "heatmap_grid", "write_heatmap"]


class ResultsWriter:
    """Append rows (dicts with the same keys) to a CSV or Parquet file
    (by its suffix: ``.csv``; ``.parquet`` or ``.pq``, which needs pyarrow).
    Each :meth:`write` is on disk when it returns (CSV: flushed; Parquet: one
    row group); :meth:`close` finishes the file (Parquet's footer)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        suffix = os.path.splitext(self.path)[1].lower()
        if suffix not in (".csv", ".parquet", ".pq"):
            raise ValueError(f"--results must end in .csv, .parquet or .pq, got {self.path!r}")
        self.parquet = suffix != ".csv"
        if self.parquet:
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise ValueError(f"--results {self.path}: Parquet needs pyarrow: "
                                 "pip install 'admf-perf[parquet]' (or write .csv)") from None
        self._fh: Any = None
        self._writer: Any = None
        self._columns: list[str] | None = None
        self.rows = 0

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        if self._columns is None:
            self._columns = list(rows[0])
            if not self.parquet:
                self._fh = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115 (closed by close())
                self._writer = csv.DictWriter(self._fh, fieldnames=self._columns)
                self._writer.writeheader()
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pylist([{k: r.get(k) for k in self._columns} for r in rows])
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, table.schema)
            self._writer.write_table(table.cast(self._writer.schema))
        else:
            self._writer.writerows({k: r.get(k) for k in self._columns} for r in rows)
            self._fh.flush()
        self.rows += len(rows)

    def close(self) -> None:
        if self.parquet and self._writer is not None:
            self._writer.close()
        if self._fh is not None:
            self._fh.close()
        self._writer = self._fh = None

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def heatmap_grid(points: Sequence[tuple[dict[str, Any], float]], x: str, y: str
                 ) -> tuple[list[Any], list[Any], np.ndarray, dict[str, Any]]:
    """The metric over parameters ``x`` and ``y`` (rows: y, columns: x), the
    other parameters held at the best run's values: from every run's
    (parameters, score); NaN where no run has them."""
    finite = [(p, s) for p, s in points if s == s]
    best = max(finite, key=lambda ps: ps[1])[0] if finite else (points[0][0] if points else {})
    others = {k: v for k, v in best.items() if k not in (x, y)}
    xs = sorted({p[x] for p, _ in points})
    ys = sorted({p[y] for p, _ in points})
    z = np.full((len(ys), len(xs)), np.nan)
    xi, yi = {v: i for i, v in enumerate(xs)}, {v: i for i, v in enumerate(ys)}
    for p, s in points:
        if all(p.get(k) == v for k, v in others.items()):
            z[yi[p[y]], xi[p[x]]] = s
    return xs, ys, z, others


def check_heatmap_path(path: str | os.PathLike[str]) -> None:
    """``ValueError`` now, before a search runs, for a path
    :func:`write_heatmap` could not write (a suffix other than .png/.html,
    or .png without matplotlib)."""
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".png", ".html", ".htm"):
        raise ValueError(f"--heatmap must end in .png or .html, got {path!r}")
    if suffix == ".png":
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise ValueError(f"--heatmap {path}: PNG needs matplotlib: pip install 'admf-perf[plot]' "
                             "(or write .html, which needs nothing)") from None


def write_heatmap(path: str | os.PathLike[str], xs: Sequence[Any], ys: Sequence[Any], z: np.ndarray, x: str, y: str,
                  title: str) -> None:
    """Draw ``z`` over ``xs`` x ``ys`` to ``path``: ``.png`` (matplotlib, the
    ``[plot]`` extra) or ``.html`` (a table with colored cells, no
    dependency)."""
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".png":
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            raise ValueError(f"--heatmap {path}: PNG needs matplotlib: pip install 'admf-perf[plot]' "
                             "(or write .html, which needs nothing)") from None
        fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * len(xs) + 2), max(3.0, 0.3 * len(ys) + 1.5)))
        im = ax.imshow(np.ma.masked_invalid(z), origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(xs)), [str(v) for v in xs], rotation=90)
        ax.set_yticks(range(len(ys)), [str(v) for v in ys])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return
    if suffix not in (".html", ".htm"):
        raise ValueError(f"--heatmap must end in .png or .html, got {path!r}")
    finite = z[np.isfinite(z)]
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)

    def color(v: float) -> str:
        if not math.isfinite(v):
            return "#eee"
        t = 0.5 if hi == lo else (v - lo) / (hi - lo)
        return f"rgb({int(255 * (1 - t))},{int(120 + 100 * t)},{int(255 * t)})"

    cells = "".join(
        f"<tr><th>{html.escape(str(ys[i]))}</th>" + "".join(
            f'<td style="background:{color(z[i, j])}">{"" if z[i, j] != z[i, j] else f"{z[i, j]:.4g}"}</td>'
            for j in range(len(xs))) + "</tr>" for i in reversed(range(len(ys))))
    head = "".join(f"<th>{html.escape(str(v))}</th>" for v in xs)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
                 "<style>td,th{padding:2px 6px;font:12px monospace;text-align:right}</style>"
                 f"<h3>{html.escape(title)}</h3><p>rows: {html.escape(y)}, columns: {html.escape(x)}</p>"
                 f"<table><tr><th></th>{head}</tr>{cells}</table>\n")
