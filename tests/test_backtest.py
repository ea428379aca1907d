"""The crossover backtest engine (``admf_perf.backtest``) against independent
references: a plain per-bar pandas loop of the same rules written here,
backtesting.py's ``Backtest(...).run()`` (when installed) and empyrical's
metrics.  Every test runs on the compiled package and on the pure-Python twins
(the ``ap`` fixture)."""
from __future__ import annotations

import importlib
import importlib.util
import math
import pickle
import sys
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

ORCL = Path("ohlcv") / "orcl-1995-2014-daily.csv"
FUTURE = Path("ohlcv") / "index-future-2006-1min.csv"
EPS = sys.float_info.epsilon
RTOL = 1e-9


# ---------------------------------------------------------------------------------------
# the module under test, for either package copy
# ---------------------------------------------------------------------------------------
def _module_of(ap: ModuleType) -> ModuleType:
    """``ap.backtest``: the module of this copy of the package."""
    return ap.backtest


@pytest.fixture
def B(ap):
    return _module_of(ap)


@pytest.fixture
def picklable(B, monkeypatch):
    """Pickle finds classes by module name: expose this copy's module (the twin
    package is a fresh import that conftest keeps out of ``sys.modules``)."""
    monkeypatch.setitem(sys.modules, B.__name__, B)
    return B


@pytest.fixture(scope="module")
def orcl_df(request):
    from conftest import SHARED_DATA

    path = SHARED_DATA / ORCL
    if not path.is_file():
        pytest.skip(f"shared data not found at {path}")
    # independent of load_bars: plain pandas
    raw = pd.read_csv(path, index_col="Date", parse_dates=True)
    df = raw[["Open", "High", "Low", "Close", "Volume"]].astype("float64")
    df.columns = ["open", "high", "low", "close", "volume"]
    return df


@pytest.fixture(scope="module")
def synth_df():
    rng = np.random.default_rng(7)  # independent of synthetic_bars
    n = 1500
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0002, 0.02, n)))
    open_ = np.concatenate(([50.0], close[:-1])) * np.exp(rng.normal(0, 0.004, n))
    high = np.maximum(open_, close) * 1.01
    low = np.minimum(open_, close) * 0.99
    idx = pd.bdate_range("2010-01-04", periods=n)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": np.full(n, 1e6)}, index=idx)


# ---------------------------------------------------------------------------------------
# the independent reference: a per-bar loop over the DataFrame
# ---------------------------------------------------------------------------------------
def reference(df: pd.DataFrame, fast: int, slow: int, cash: float = 10_000.0,
              commission: float = 0.0, finalize: bool = False):
    """SmaCross by hand: signals on bar close, market orders at the next open,
    whole units of the whole equity (price plus commission per unit),
    close-then-reverse, out-of-money stop.  Returns (equity, trades)."""
    close = df["close"]
    f = close.rolling(fast).mean()
    s = close.rolling(slow).mean()
    n = len(df)

    def side(i):  # -1 fast below slow, +1 above, 0 equal (to rounding) or undefined
        if np.isnan(f.iloc[i]) or np.isnan(s.iloc[i]) or abs(f.iloc[i] - s.iloc[i]) <= 1e-11 * s.iloc[i]:
            return 0
        return 1 if f.iloc[i] > s.iloc[i] else -1

    free = cash      # cash, not counting the open position's value
    pos = 0
    entry_price = entry_comm = 0.0
    entry_bar = -1
    trades = []
    equity = np.zeros(n)
    pending = 0

    def close_trade(i, price):
        nonlocal free, pos
        comm = abs(pos) * price * commission
        free += pos * (price - entry_price) - comm
        trades.append({"size": pos, "entry_bar": entry_bar, "exit_bar": i, "entry_price": entry_price,
                       "exit_price": price, "pnl": pos * (price - entry_price) - comm - entry_comm,
                       "commission": comm + entry_comm})
        pos = 0

    def open_trade(i, direction):
        nonlocal free, pos, entry_price, entry_comm, entry_bar
        price = df["open"].iloc[i]
        units = int((max(free, 0.0) * (1 - EPS)) // (price * (1 + commission)))
        if units >= 1:
            pos = direction * units
            entry_price, entry_bar = price, i
            entry_comm = units * price * commission
            free -= entry_comm

    ruined = False
    for i in range(n):
        if pending:
            if pos:
                close_trade(i, df["open"].iloc[i])
            open_trade(i, pending)
            pending = 0
        eq = free + pos * (close.iloc[i] - entry_price)
        if eq <= 0:
            if pos:
                close_trade(i, close.iloc[i])
            equity[i:] = 0.0
            ruined = True
            break
        equity[i] = eq
        if i >= slow:
            if side(i - 1) < 0 < side(i):
                pending = 1
            elif side(i - 1) > 0 > side(i):
                pending = -1
    if finalize and not ruined and (pos or pending):
        i = n - 1
        if pos:
            close_trade(i, df["open"].iloc[i])
        if pending:
            open_trade(i, pending)
        equity[i] = free + pos * (close.iloc[i] - entry_price)
    cols = ["size", "entry_bar", "exit_bar", "entry_price", "exit_price", "pnl", "commission"]
    return equity, pd.DataFrame(trades, columns=cols)


def assert_trades_equal(ours: pd.DataFrame, ref: pd.DataFrame) -> None:
    assert len(ours) == len(ref)
    for col in ("size", "entry_bar", "exit_bar"):
        np.testing.assert_array_equal(ours[col].to_numpy(), ref[col].to_numpy().astype(np.int64), err_msg=col)
    for col in ("entry_price", "exit_price", "pnl", "commission"):
        np.testing.assert_allclose(ours[col].to_numpy(), ref[col].to_numpy(dtype=float), rtol=RTOL,
                                   atol=1e-9 * 10_000, err_msg=col)


# ---------------------------------------------------------------------------------------
# loading bars
# ---------------------------------------------------------------------------------------
def test_load_orcl(B, shared_data, orcl_df):
    bars = B.load_bars(shared_data / ORCL)
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert all(dt == np.float64 for dt in bars.dtypes)
    assert isinstance(bars.index, pd.DatetimeIndex) and len(bars) == 5036
    np.testing.assert_array_equal(bars.to_numpy(), orcl_df.to_numpy())
    assert (bars.index == orcl_df.index).all()


def test_load_future_date_time_combined(B, shared_data):
    bars = B.load_bars(shared_data / FUTURE)
    raw = pd.read_csv(shared_data / FUTURE, header=None, skiprows=1)  # 8 fields a row
    assert len(bars) == len(raw) == 30889
    assert bars.index[0] == pd.Timestamp("2006-01-02 09:01:00")
    assert bars.index[-1] == pd.Timestamp("2006-02-27 22:00:00")
    expected = pd.to_datetime(raw[0] + " " + raw[1])
    assert (bars.index == pd.DatetimeIndex(expected)).all()
    np.testing.assert_array_equal(bars.to_numpy(), raw[[2, 3, 4, 5, 6]].to_numpy(dtype=float))
    assert bars.index.is_unique and bars.index.is_monotonic_increasing


def _write(tmp_path, text, name="bars.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = "2020-01-02,10,11,9,10.5,100\n2020-01-03,10.5,12,10,11,200\n2020-01-06,11,11.5,10.5,11.2,300\n"


def test_load_case_insensitive_and_extra_columns(B, tmp_path):
    path = _write(tmp_path, "DATE,OPEN,high,Low,cLoSe,Volume,Adj Close\n"
                  + "".join(line + ",1.0\n" for line in GOOD.splitlines()))
    bars = B.load_bars(path)
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    np.testing.assert_array_equal(bars["close"].to_numpy(), [10.5, 11.0, 11.2])
    assert bars.index[2] == pd.Timestamp("2020-01-06")


@pytest.mark.parametrize("header, body, words", [
    ("Date,Open,High,Low,Close\n", "2020-01-02,1,2,0.5,1.5\n2020-01-03,1,2,0.5,1.5\n", ["'volume'", "bars.csv"]),
    ("Date,Open,High,Low,Volume\n", "2020-01-02,1,2,0.5,1\n2020-01-03,1,2,0.5,1\n", ["'close'", "bars.csv"]),
    ("Date,Open,High,Low,Close,Volume\n", "2020-01-02,1,2,0.5,,1\n2020-01-03,1,2,0.5,1.5,1\n", ["close", "> 0"]),
    ("Date,Open,High,Low,Close,Volume\n", "2020-01-02,1,2,0,1.5,1\n2020-01-03,1,2,0.5,1.5,1\n", ["low", "> 0"]),
    ("Date,Open,High,Low,Close,Volume\n", "2020-01-02,1,2,0.5,-1.5,1\n2020-01-03,1,2,0.5,1.5,1\n", ["close"]),
    ("Date,Open,High,Low,Close,Volume\n", "2020-01-03,1,2,0.5,1.5,1\n2020-01-02,1,2,0.5,1.5,1\n", ["sorted"]),
    ("Date,Open,High,Low,Close,Volume\n", "2020-01-02,1,2,0.5,1.5,1\n2020-01-02,1,2,0.5,1.5,1\n", ["duplicate"]),
    ("Date,Open,High,Low,Close,Volume\n", "2020-01-02,1,2,0.5,abc,1\n2020-01-03,1,2,0.5,1.5,1\n",
     ["'Close'", "numeric"]),
    ("Open,High,Low,Close,Volume\n", "1,2,0.5,1.5,1\n1,2,0.5,1.5,1\n", ["date"]),
    ("Date,Open,High,Low,Close,Volume\n", "not a date,1,2,0.5,1.5,1\n2020-01-03,1,2,0.5,1.5,1\n", ["date"]),
])
def test_load_errors_name_the_problem(B, tmp_path, header, body, words):
    path = _write(tmp_path, header + body)
    with pytest.raises(ValueError) as err:
        B.load_bars(path)
    for word in words:
        assert word in str(err.value)


def test_load_missing_unreadable(B, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        B.load_bars(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="directory"):
        B.load_bars(tmp_path)
    empty = _write(tmp_path, "", "empty.csv")
    with pytest.raises(ValueError, match="empty.csv"):
        B.load_bars(empty)
    binary = tmp_path / "blob.csv"
    binary.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ValueError, match="blob.csv"):
        B.load_bars(binary)
    ragged = _write(tmp_path, "Date,Open,High,Low,Close,Volume\n2020-01-02,1,2,0.5,1.5,1\n1,2,3,4,5,6,7,8,9\n",
                    "ragged.csv")
    with pytest.raises(ValueError, match="ragged.csv"):
        B.load_bars(ragged)
    with pytest.raises(TypeError, match="path"):
        B.load_bars(42)


def test_load_parquet_roundtrip(B, tmp_path):
    pytest.importorskip("pyarrow")
    bars = B.load_bars(_write(tmp_path, "Date,Open,High,Low,Close,Volume\n" + GOOD))
    (tmp_path / "a.parquet").write_bytes(b"")
    bars.to_parquet(tmp_path / "a.parquet")                       # DatetimeIndex kept as the index
    bars.reset_index().rename(columns=str.upper).to_parquet(tmp_path / "b.parquet")  # a DATETIME column
    for name in ("a.parquet", "b.parquet"):
        back = B.load_bars(tmp_path / name)
        pd.testing.assert_frame_equal(back, bars, check_freq=False, check_index_type=False)
        assert isinstance(back.index, pd.DatetimeIndex)
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(ValueError, match="bad.parquet"):
        B.load_bars(bad)


def test_load_parquet_without_pyarrow(B, tmp_path, monkeypatch):
    path = tmp_path / "x.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    with pytest.raises(ImportError, match="pyarrow"):
        B.load_bars(path)


# ---------------------------------------------------------------------------------------
# synthetic bars
# ---------------------------------------------------------------------------------------
def test_synthetic_bars(B):
    a = B.synthetic_bars()
    assert len(a) == 2520 and list(a.columns) == ["open", "high", "low", "close", "volume"]
    assert all(dt == np.float64 for dt in a.dtypes)
    assert a.index[0] == pd.Timestamp("2015-01-02") and (a.index.day_of_week < 5).all()
    assert a.index.is_monotonic_increasing and a.index.is_unique
    pd.testing.assert_frame_equal(a, B.synthetic_bars())                 # deterministic
    assert not np.array_equal(a["close"], B.synthetic_bars(seed=43)["close"])
    o, h, lo, c, v = (a[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    assert (h >= np.maximum(o, c)).all() and (lo <= np.minimum(o, c)).all() and (lo > 0).all()
    assert (v >= 0).all() and (v == np.floor(v)).all()
    r = np.diff(np.log(c))
    assert 0.01 < r.std() < 0.02                                         # the default volatility
    small = B.synthetic_bars(50, seed=1, start="2021-03-01", initial_price=10.0, volatility=0.0, drift=0.0)
    assert len(small) == 50 and small.index[0] == pd.Timestamp("2021-03-01")
    np.testing.assert_allclose(small["close"], 10.0)
    B.prepare(a)  # passes the engine's validation


@pytest.mark.parametrize("kwargs, exc, word", [
    ({"n": 1}, ValueError, "n"), ({"n": 2.5}, TypeError, "n"), ({"seed": -1}, ValueError, "seed"),
    ({"seed": True}, TypeError, "seed"), ({"volatility": -0.1}, ValueError, "volatility"),
    ({"initial_price": 0}, ValueError, "initial_price"), ({"drift": math.nan}, ValueError, "drift"),
    ({"start": "not a date"}, ValueError, "start"),
])
def test_synthetic_bars_errors(B, kwargs, exc, word):
    with pytest.raises(exc, match=word):
        B.synthetic_bars(**kwargs)


# ---------------------------------------------------------------------------------------
# prepared data and the shared SMA cache
# ---------------------------------------------------------------------------------------
def test_prepare_sma_cache_shared_and_picklable(B, picklable, synth_df):
    data = B.prepare(synth_df)
    assert len(data) == len(synth_df) and data.cached_periods == ()
    s10 = data.sma(10)
    assert data.sma(10) is s10 and data.sma(np.int64(10)) is s10      # computed once
    np.testing.assert_allclose(s10, synth_df["close"].rolling(10).mean(), rtol=1e-12)
    assert np.isnan(s10[:9]).all() and not np.isnan(s10[9:]).any()
    with pytest.raises(ValueError):
        s10[20] = 1.0                                                      # read-only: nobody corrupts the cache
    with pytest.raises(ValueError):
        data.close[0] = 1.0
    data.precompute([5, 20, 30])
    assert data.cached_periods == (5, 10, 20, 30)
    back = pickle.loads(pickle.dumps(data))
    assert back.cached_periods == (5, 10, 20, 30)
    np.testing.assert_array_equal(back.sma(20), data.sma(20))
    np.testing.assert_array_equal(back.close, data.close)
    assert not back.sma(20).flags.writeable and not back.open.flags.writeable
    assert (back.index == data.index).all()
    r1 = B.crossover_backtest(back, 10, 30)
    r2 = B.crossover_backtest(data, 10, 30)
    np.testing.assert_array_equal(r1.equity, r2.equity)
    data.clear_cache()
    assert data.cached_periods == ()
    with pytest.raises(ValueError, match="period"):
        data.sma(0)
    with pytest.raises(ValueError, match="period"):
        data.sma(len(synth_df) + 1)
    with pytest.raises(TypeError, match="period"):
        data.sma(10.0)


def test_grid_runs_share_sma_series(B, synth_df):
    data = B.prepare(synth_df)
    grid = [(f, s) for f in (5, 10) for s in (20, 30)]
    results = {fs: B.crossover_backtest(data, *fs, commission=0.001) for fs in grid}
    assert data.cached_periods == (5, 10, 20, 30)                         # one series per period
    for fs, res in results.items():
        fresh = B.crossover_backtest(synth_df, *fs, commission=0.001)    # a DataFrame: prepared afresh
        np.testing.assert_array_equal(res.equity, fresh.equity)
        pd.testing.assert_frame_equal(res.trades, fresh.trades)
    assert B.prepare(data) is data


def test_prepare_copies_and_validates(B, synth_df):
    df = synth_df.rename(columns=str.capitalize)                          # backtesting.py's names
    data = B.prepare(df)
    before = B.crossover_backtest(data, 10, 30).equity.copy()
    df.iloc[100:, 3] = 1.0                                                # the caller edits its frame
    np.testing.assert_array_equal(B.crossover_backtest(data, 10, 30).equity, before)
    assert B.prepare(synth_df.drop(columns="volume")).volume is None
    with pytest.raises(ValueError, match="'close'"):
        B.prepare(synth_df.drop(columns="close"))
    bad = synth_df.copy()
    bad.iloc[5, 0] = np.nan
    with pytest.raises(ValueError, match="open"):
        B.prepare(bad)
    with pytest.raises(ValueError, match="sorted"):
        B.prepare(synth_df.iloc[::-1])
    with pytest.raises(TypeError, match="bars"):
        B.prepare(synth_df.to_numpy())
    with pytest.raises(ValueError, match="case"):
        B.prepare(synth_df.assign(Close=synth_df["close"]))


# ---------------------------------------------------------------------------------------
# the engine against the reference loop
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("fast, slow, commission", [(10, 30, 0.0), (10, 30, 0.002), (5, 20, 0.001),
                                                    (20, 50, 0.0), (50, 200, 0.002)])
def test_matches_reference_orcl(B, orcl_df, fast, slow, commission):
    res = B.crossover_backtest(orcl_df, fast, slow, commission=commission)
    equity, trades = reference(orcl_df, fast, slow, commission=commission)
    np.testing.assert_allclose(res.equity, equity, rtol=RTOL)
    assert_trades_equal(res.trades, trades)
    assert len(trades) > 20


@pytest.mark.parametrize("fast, slow, commission, finalize", [(10, 30, 0.0, False), (3, 12, 0.002, True),
                                                              (10, 30, 0.002, True), (2, 5, 0.0, False)])
def test_matches_reference_synthetic(B, synth_df, fast, slow, commission, finalize):
    res = B.crossover_backtest(synth_df, fast, slow, commission=commission, cash=25_000,
                               finalize_trades=finalize)
    equity, trades = reference(synth_df, fast, slow, 25_000, commission, finalize)
    np.testing.assert_allclose(res.equity, equity, rtol=RTOL)
    assert_trades_equal(res.trades, trades)


def test_matches_reference_future_minutes(B, shared_data):
    bars = B.load_bars(shared_data / FUTURE).iloc[:8000]   # integer prices: many exact SMA ties
    res = B.crossover_backtest(bars, 10, 30, cash=100_000, commission=0.0005)
    equity, trades = reference(bars, 10, 30, 100_000, 0.0005)
    np.testing.assert_allclose(res.equity, equity, rtol=RTOL)
    assert_trades_equal(res.trades, trades)


def _crash_bars(short: bool = True) -> pd.DataFrame:
    """A decline (a short is entered), then a jump that wipes the equity out."""
    up = np.linspace(100, 120, 40)
    down = np.linspace(119, 80, 30)
    jump = np.full(10, 260.0 if short else 1.0)
    close = np.concatenate([up, down, jump, np.linspace(260, 300, 20)])
    idx = pd.bdate_range("2020-01-01", periods=len(close))
    return pd.DataFrame({"open": close, "high": close * 1.01, "low": close * 0.99, "close": close,
                         "volume": 1.0}, index=idx)


def test_out_of_money_stop(B):
    bars = _crash_bars()
    res = B.crossover_backtest(bars, 3, 10, commission=0.001)
    equity, trades = reference(bars, 3, 10, commission=0.001)
    np.testing.assert_allclose(res.equity, equity, rtol=RTOL, atol=1e-9)
    assert_trades_equal(res.trades, trades)
    assert res.equity[-1] == 0.0 and res.metrics["max_drawdown"] == -1.0
    assert res.metrics["final_equity"] == 0.0 and res.metrics["total_return"] == -1.0
    assert res.open_trade is None
    assert not math.isnan(res.metrics["sharpe"])


def test_open_trade_and_invariants(B, orcl_df):
    res = B.crossover_backtest(orcl_df, 10, 30, commission=0.002)
    t = res.trades
    ot = res.open_trade
    assert ot is not None and ot.entry_bar > t["exit_bar"].iloc[-1] - 1
    assert ot.unrealized_pnl == pytest.approx(ot.size * (orcl_df["close"].iloc[-1] - ot.entry_price), rel=1e-12)
    # the books balance: every cash flow is a trade's P&L, the open trade's or its entry commission
    total = t["pnl"].sum() + ot.unrealized_pnl - ot.entry_commission
    assert res.metrics["final_equity"] - 10_000 == pytest.approx(total, rel=1e-9)
    assert (t["exit_bar"].to_numpy()[:-1] <= t["entry_bar"].to_numpy()[1:]).all()
    assert (t["entry_time"] == orcl_df.index[t["entry_bar"]]).all()
    assert (t["duration"] == t["exit_time"] - t["entry_time"]).all()
    np.testing.assert_allclose(t["return_pct"], np.sign(t["size"]) * (t["exit_price"] / t["entry_price"] - 1)
                               - t["commission"] / (t["size"].abs() * t["entry_price"]), rtol=1e-12)
    pd.testing.assert_series_equal(res.equity_curve, pd.Series(res.equity, index=orcl_df.index, name="equity"))
    assert not res.equity.flags.writeable
    finalized = B.crossover_backtest(orcl_df, 10, 30, commission=0.002, finalize_trades=True)
    assert finalized.open_trade is None and len(finalized.trades) == len(t) + 1
    last = finalized.trades.iloc[-1]
    assert last["exit_bar"] == len(orcl_df) - 1 and last["exit_price"] == orcl_df["open"].iloc[-1]


def test_canceled_order_when_equity_buys_nothing(B, synth_df):
    res = B.crossover_backtest(synth_df * [1, 1, 1, 1, 1], 10, 30, cash=1.0)   # prices ~50: no unit affordable
    assert res.metrics["trades"] == 0 and res.canceled_orders > 0 and res.open_trade is None
    np.testing.assert_array_equal(res.equity, 1.0)
    assert math.isnan(res.metrics["win_rate"]) and res.metrics["exposure"] == 0.0


# ---------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------
def test_metrics_equal_empyrical(B, orcl_df):
    empyrical = pytest.importorskip("empyrical")
    for ppy in (252, 52):
        res = B.crossover_backtest(orcl_df, 20, 50, commission=0.001, periods_per_year=ppy)
        returns = pd.Series(res.equity).pct_change().dropna()
        m = res.metrics
        assert m["sharpe"] == pytest.approx(empyrical.sharpe_ratio(returns, annualization=ppy), rel=1e-9)
        assert m["sortino"] == pytest.approx(empyrical.sortino_ratio(returns, annualization=ppy), rel=1e-9)
        assert m["volatility"] == pytest.approx(empyrical.annual_volatility(returns, annualization=ppy), rel=1e-9)
        assert m["max_drawdown"] == pytest.approx(empyrical.max_drawdown(returns), rel=1e-9)
        assert m["total_return"] == pytest.approx(res.equity[-1] / 10_000 - 1, rel=1e-12)
        assert m["final_equity"] == res.equity[-1]
        t = res.trades
        assert m["trades"] == len(t) and m["win_rate"] == pytest.approx((t["pnl"] > 0).mean())
        held = np.zeros(len(orcl_df), bool)
        for a, b in zip(t["entry_bar"], t["exit_bar"], strict=True):
            held[a:b + 1] = True
        assert m["exposure"] == pytest.approx(held.mean())
    assert set(m) == set(B.METRICS)


def test_ruin_metrics_equal_empyrical(B):
    empyrical = pytest.importorskip("empyrical")
    res = B.crossover_backtest(_crash_bars(), 3, 10)
    returns = pd.Series(res.equity).pct_change().dropna()   # NaN (0/0) after the ruin is dropped
    assert res.metrics["sharpe"] == pytest.approx(empyrical.sharpe_ratio(returns), rel=1e-9)
    assert res.metrics["sortino"] == pytest.approx(empyrical.sortino_ratio(returns), rel=1e-9)
    assert res.metrics["volatility"] == pytest.approx(empyrical.annual_volatility(returns), rel=1e-9)


# ---------------------------------------------------------------------------------------
# backtesting.py itself
# ---------------------------------------------------------------------------------------
def _backtesting_run(df, fast, slow, cash=10_000, commission=0.0, finalize=False):
    pytest.importorskip("backtesting")
    from backtesting import Backtest

    from admf_perf.bench.backtest import sma_cross_strategy

    SmaCross = sma_cross_strategy(fast, slow)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Backtest(df.rename(columns=str.capitalize), SmaCross, cash=cash, commission=commission,
                        finalize_trades=finalize).run()


def _assert_matches_backtesting(res, stats):
    eq = stats["_equity_curve"]["Equity"].to_numpy()
    np.testing.assert_allclose(res.equity, eq, rtol=RTOL)
    bt = stats["_trades"]
    ours = res.trades
    assert len(ours) == len(bt)
    pairs = [("size", "Size"), ("entry_bar", "EntryBar"), ("exit_bar", "ExitBar")]
    for a, b in pairs:
        np.testing.assert_array_equal(ours[a].to_numpy(), bt[b].to_numpy(), err_msg=a)
    for a, b in [("entry_price", "EntryPrice"), ("exit_price", "ExitPrice"), ("pnl", "PnL"),
                 ("commission", "Commission"), ("return_pct", "ReturnPct")]:
        np.testing.assert_allclose(ours[a].to_numpy(), bt[b].to_numpy(dtype=float), rtol=RTOL, atol=1e-12,
                                   err_msg=a)
    assert (ours["entry_time"].to_numpy() == bt["EntryTime"].to_numpy()).all()
    assert (ours["exit_time"].to_numpy() == bt["ExitTime"].to_numpy()).all()
    m = res.metrics
    assert m["trades"] == stats["# Trades"]
    assert m["final_equity"] == pytest.approx(stats["Equity Final [$]"], rel=RTOL)
    assert m["total_return"] * 100 == pytest.approx(stats["Return [%]"], rel=RTOL, abs=1e-9)
    assert m["max_drawdown"] * 100 == pytest.approx(stats["Max. Drawdown [%]"], rel=RTOL)
    assert m["exposure"] * 100 == pytest.approx(stats["Exposure Time [%]"], rel=1e-12)
    if m["trades"]:
        assert m["win_rate"] * 100 == pytest.approx(stats["Win Rate [%]"], rel=1e-12)


@pytest.mark.parametrize("fast, slow, commission, finalize", [
    (10, 30, 0.0, False), (10, 30, 0.002, False), (5, 20, 0.001, True), (20, 50, 0.002, True),
    (50, 200, 0.0, False),
])
def test_equals_backtesting_orcl(B, orcl_df, fast, slow, commission, finalize):
    stats = _backtesting_run(orcl_df, fast, slow, commission=commission, finalize=finalize)
    res = B.crossover_backtest(orcl_df, fast, slow, commission=commission, finalize_trades=finalize)
    _assert_matches_backtesting(res, stats)


@pytest.mark.parametrize("seed, fast, slow, commission, finalize", [
    (42, 10, 30, 0.002, False), (3, 4, 15, 0.0, True), (11, 2, 5, 0.001, False),
])
def test_equals_backtesting_synthetic(B, seed, fast, slow, commission, finalize):
    bars = B.synthetic_bars(1000, seed=seed)
    stats = _backtesting_run(bars, fast, slow, cash=50_000, commission=commission, finalize=finalize)
    res = B.crossover_backtest(bars, fast, slow, cash=50_000, commission=commission, finalize_trades=finalize)
    _assert_matches_backtesting(res, stats)


def test_equals_backtesting_out_of_money(B):
    bars = _crash_bars()
    stats = _backtesting_run(bars, 3, 10, commission=0.001)
    res = B.crossover_backtest(bars, 3, 10, commission=0.001)
    _assert_matches_backtesting(res, stats)


def test_equals_backtesting_future_minutes(B, shared_data):
    bars = B.load_bars(shared_data / FUTURE).iloc[:6000]
    stats = _backtesting_run(bars, 10, 30, cash=100_000, commission=0.0005)
    res = B.crossover_backtest(bars, 10, 30, cash=100_000, commission=0.0005)
    _assert_matches_backtesting(res, stats)


# ---------------------------------------------------------------------------------------
# argument checks and API
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, kwargs, exc, word", [
    ((30, 10), {}, ValueError, "fast must be < slow"),
    ((10, 10), {}, ValueError, "fast must be < slow"),
    ((0, 10), {}, ValueError, "fast"),
    ((5, -3), {}, ValueError, "slow"),
    ((5.0, 10), {}, TypeError, "fast"),
    ((True, 10), {}, TypeError, "fast"),
    ((5, "10"), {}, TypeError, "slow"),
    ((5, 100), {}, ValueError, "slow must be < the number of bars"),
    ((5, 10), {"cash": 0}, ValueError, "cash"),
    ((5, 10), {"cash": math.inf}, ValueError, "cash"),
    ((5, 10), {"cash": "1000"}, TypeError, "cash"),
    ((5, 10), {"commission": -0.001}, ValueError, "commission"),
    ((5, 10), {"commission": 1.0}, ValueError, "commission"),
    ((5, 10), {"commission": math.nan}, ValueError, "commission"),
    ((5, 10), {"periods_per_year": 0}, ValueError, "periods_per_year"),
    ((5, 10), {"finalize_trades": 1}, TypeError, "finalize_trades"),
])
def test_argument_errors(B, synth_df, args, kwargs, exc, word):
    small = synth_df.iloc[:100]
    with pytest.raises(exc, match=word):
        B.crossover_backtest(small, *args, **kwargs)
    with pytest.raises(TypeError, match="bars"):
        B.crossover_backtest([1, 2, 3], 1, 2)


def test_numpy_int_periods_and_result_pickles(B, picklable, synth_df):
    data = B.prepare(synth_df)
    res = B.crossover_backtest(data, np.int64(10), np.int32(30))
    assert (res.fast, res.slow) == (10, 30) and type(res.fast) is int
    back = pickle.loads(pickle.dumps(res))                  # results come back from worker processes
    np.testing.assert_array_equal(back.equity, res.equity)
    assert back.metrics == res.metrics or all(
        (a == b) or (math.isnan(a) and math.isnan(b))
        for a, b in zip(back.metrics.values(), res.metrics.values(), strict=True))
    pd.testing.assert_frame_equal(back.trades, res.trades)


def test_uses_the_toolkit_pieces(B, ap):
    """The engine is built on this package copy's SMA, tracker and risk calculator."""
    assert B.SMA is ap.SMA
    assert B.IncrementalPositionTracker is ap.IncrementalPositionTracker
    assert B.CachingRiskCalculator is ap.CachingRiskCalculator


def test_bench_scenarios_registered(orcl_df):
    """The bench module's data and our factory (the anchor needs backtesting.py)."""
    from admf_perf.bench import backtest as bench
    from admf_perf.bench.scenario import _REGISTRY

    names = [s for s in _REGISTRY if s.startswith("crossover backtest ORCL")]
    assert len(names) == 2
    df = bench.orcl_bars(False)[0]
    assert list(df.columns) == ["Open", "High", "Low", "Close", "Volume"] and len(df) == 5036
    ours = bench._ours_cold()["run"](df)
    assert ours.metrics["trades"] > 100
    warm = bench._ours_warm()["run"](df)
    np.testing.assert_array_equal(ours.equity, warm.equity)


@pytest.mark.parametrize("finalize", [False, True])
def test_signal_on_the_last_bar(B, finalize):
    """A crossover on the last bar: never filled, unless finalize_trades, where
    backtesting.py closes the open trade and fills the new order at the last
    open (so a trade is open again at the end)."""
    bars = B.synthetic_bars(600, seed=5)
    f = bars["close"].rolling(5).mean().to_numpy()
    s = bars["close"].rolling(15).mean().to_numpy()
    cross = np.flatnonzero(np.sign(f[1:] - s[1:]) * np.sign(f[:-1] - s[:-1]) < 0) + 1
    last = int(cross[cross >= 15][-1])
    bars = bars.iloc[:last + 1]
    res = B.crossover_backtest(bars, 5, 15, commission=0.001, finalize_trades=finalize)
    equity, trades = reference(bars, 5, 15, commission=0.001, finalize=finalize)
    np.testing.assert_allclose(res.equity, equity, rtol=RTOL)
    assert_trades_equal(res.trades, trades)
    assert res.open_trade is not None
    assert res.open_trade.entry_bar == (last if finalize else res.trades["exit_bar"].iloc[-1])
    if importlib.util.find_spec("backtesting") is not None:
        _assert_matches_backtesting(res, _backtesting_run(bars, 5, 15, commission=0.001, finalize=finalize))
