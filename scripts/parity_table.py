"""Print the parity table of the compiled indicators against TA-Lib.

For every indicator and data set: the largest relative error of our batch
output against talib on the same series (outputs where TA-Lib's magnitude is
below 1e-6 of the series' scale are left out of the relative figure, as the
tests' absolute floor covers them), and whether NaN positions agree.

    python scripts/parity_table.py [--shared ../shared]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import talib

import admf_perf as ap

ROOT = Path(__file__).resolve().parent.parent


def datasets(shared: Path) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(42)
    close = 1e4 + np.cumsum(rng.normal(size=20_000))
    spread = np.abs(rng.normal(size=close.size)) + 0.1
    out = {"random walk": {"high": close + spread, "low": close - spread, "close": close,
                           "volume": rng.integers(1, 10_000, close.size).astype(float)}}
    orcl = pd.read_csv(shared / "data/ohlcv/orcl-1995-2014-daily.csv")
    out["ORCL daily"] = {k.lower(): orcl[k].to_numpy(float) for k in ("High", "Low", "Close", "Volume")}
    fut = pd.read_csv(shared / "data/ohlcv/index-future-2006-1min.csv")
    out["future 1-min"] = {k.lower(): fut[k].to_numpy(float) for k in ("High", "Low", "Close", "Volume")}
    return out


CASES = {
    "SMA": (lambda: ap.SMA(30), "c", lambda d: talib.SMA(d["close"], 30)),
    "EMA": (lambda: ap.EMA(30), "c", lambda d: talib.EMA(d["close"], 30)),
    "WMA": (lambda: ap.WMA(30), "c", lambda d: talib.WMA(d["close"], 30)),
    "DEMA": (lambda: ap.DEMA(30), "c", lambda d: talib.DEMA(d["close"], 30)),
    "TEMA": (lambda: ap.TEMA(30), "c", lambda d: talib.TEMA(d["close"], 30)),
    "KAMA": (lambda: ap.KAMA(30), "c", lambda d: talib.KAMA(d["close"], 30)),
    "RSI": (lambda: ap.RSI(14), "c", lambda d: talib.RSI(d["close"], 14)),
    "MACD": (lambda: ap.MACD(), "c", lambda d: talib.MACD(d["close"], 12, 26, 9)),
    "BollingerBands": (lambda: ap.BollingerBands(20), "c",
                       lambda d: talib.BBANDS(d["close"], 20, 2.0, 2.0, 0)),
    "StdDev": (lambda: ap.StdDev(5), "c", lambda d: talib.STDDEV(d["close"], 5, 1.0)),
    "RollingMin": (lambda: ap.RollingMin(30), "c", lambda d: talib.MIN(d["close"], 30)),
    "RollingMax": (lambda: ap.RollingMax(30), "c", lambda d: talib.MAX(d["close"], 30)),
    "ROC": (lambda: ap.ROC(10), "c", lambda d: talib.ROC(d["close"], 10)),
    "Momentum": (lambda: ap.Momentum(10), "c", lambda d: talib.MOM(d["close"], 10)),
    "ATR": (lambda: ap.ATR(14), "hlc", lambda d: talib.ATR(d["high"], d["low"], d["close"], 14)),
    "ADX": (lambda: ap.ADX(14), "hlc", lambda d: talib.ADX(d["high"], d["low"], d["close"], 14)),
    "Stochastic": (lambda: ap.Stochastic(), "hlc",
                   lambda d: talib.STOCH(d["high"], d["low"], d["close"], 5, 3, 0, 3, 0)),
    "OBV": (lambda: ap.OBV(), "cv", lambda d: talib.OBV(d["close"], d["volume"])),
}


def compare(ours: np.ndarray, want: np.ndarray, scale: float) -> tuple[float, bool]:
    nan_ok = bool(np.array_equal(np.isnan(ours), np.isnan(want)))
    mask = ~np.isnan(want) & (np.abs(want) > 1e-6 * scale)
    if not mask.any():
        return 0.0, nan_ok
    rel = np.abs(ours[mask] - want[mask]) / np.abs(want[mask])
    return float(rel.max()), nan_ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    data = datasets(args.shared)
    names = list(data)
    print(f"compiled: {ap.COMPILED}")
    print(f"{'indicator':16s}" + "".join(f"{n:>16s}" for n in names))
    for name, (make, inputs, reference) in CASES.items():
        cells = []
        for dname in names:
            d = data[dname]
            arrays = {"c": (d["close"],), "hlc": (d["high"], d["low"], d["close"]),
                      "cv": (d["close"], d["volume"])}[inputs]
            ours = make().batch(*arrays)
            want = reference(d)
            ours_t = ours if isinstance(ours, tuple) else (ours,)
            want_t = want if isinstance(want, tuple) else (want,)
            scale = float(np.nanmax(np.abs(d["close"])))
            results = [compare(o, w, scale if name != "OBV" else float(np.nanmax(np.abs(w))))
                       for o, w in zip(ours_t, want_t, strict=True)]
            err = max(r[0] for r in results)
            nan_ok = all(r[1] for r in results)
            cells.append(f"{err:10.1e}{'' if nan_ok else ' NaN!':>6s}")
        print(f"{name:16s}" + "".join(f"{c:>16s}" for c in cells))


if __name__ == "__main__":
    main()
