"""``admf_perf.research.strategy`` (``Strategy``, ``Backtest``, ``crossover``)
against backtesting.py 0.6 itself, run side by side.

Every strategy here is written once, in a factory that takes the ``Strategy``
base class and the ``crossover`` function, so that the same body subclasses
``backtesting.Strategy`` and ``admf_perf.Strategy`` (only the import changes,
as for a user).  Each run is done in both engines and compared: the trades,
the equity curve, every key of the stats Series, and what the strategy saw in
``init()``/``next()`` (recorded per bar into a list on the strategy class).

Data: backtesting.py's own GOOG, EURUSD and BTCUSD, and the real ORCL daily
bars of ``shared/`` (skipped where absent; never copied into the project).
"""
from __future__ import annotations

import math
import numbers
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ALL_IMPLS

ORCL_CSV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ohlcv" / "orcl-1995-2014-daily.csv"
RTOL = 1e-9
#: floor of the comparison of values computed by differently-ordered float
#: arithmetic that should be exactly 0 (a drawdown at a peak, a flat P&L)
ATOL = 1e-12


# ---------------------------------------------------------------------------------------
# the two engines
# ---------------------------------------------------------------------------------------
class Engine:
    def __init__(self, name, Strategy, Backtest, crossover):
        self.name, self.Strategy, self.Backtest, self.crossover = name, Strategy, Backtest, crossover

    def __repr__(self):
        return f"<Engine {self.name}>"


@pytest.fixture(scope="module", params=ALL_IMPLS)
def ours(request) -> Engine:
    """Our engine on its compiled hot paths (``_ext/_strategy``), then on
    their pure-Python twin (``_strategy_py``): the whole file runs on both."""
    from admf_perf._ext import _strategy_py
    from admf_perf.research import _revealed as r
    from admf_perf.research import strategy as m

    if request.param == "compiled":
        if not r._core.__name__.endswith("._strategy"):
            pytest.skip("the compiled _strategy module is not loaded")
        yield Engine("admf_perf", m.Strategy, m.Backtest, m.crossover)
        return
    saved = r._core
    try:
        m._install(_strategy_py, prefix="Twin")     # the broker's classes published as br.TwinOrder, ...
        yield Engine("admf_perf (twin)", m.Strategy, m.Backtest, _strategy_py.crossover)
    finally:
        m._install(saved)


@pytest.fixture(scope="module")
def ref() -> Engine:
    bt = pytest.importorskip("backtesting")
    import backtesting.lib

    return Engine("backtesting.py", bt.Strategy, bt.Backtest, backtesting.lib.crossover)


class _SerialPool:
    """backtesting.Pool stand-in: runs ``optimize``'s tasks in this process
    (no pickling of the strategy classes made in factories, no process start;
    the results are the same, the tasks being deterministic)."""

    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def imap(self, func, iterable):
        return map(func, iterable)


@pytest.fixture
def serial_ref_pool(ref, monkeypatch):
    import backtesting

    monkeypatch.setattr(backtesting, "Pool", _SerialPool)


# ---------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------
def _load(name: str) -> pd.DataFrame:
    if name == "orcl":
        if not ORCL_CSV.is_file():
            pytest.skip(f"shared data not found at {ORCL_CSV}")
        raw = pd.read_csv(ORCL_CSV, index_col="Date", parse_dates=True)
        return raw[["Open", "High", "Low", "Close", "Volume"]]
    bt_test = pytest.importorskip("backtesting.test")
    # EURUSD (hourly): its first 3,000 of 5,000 bars, for the time of the file
    return {"goog": bt_test.GOOG, "eurusd": bt_test.EURUSD.iloc[:3000], "btcusd": bt_test.BTCUSD}[name].copy()


_DATA: dict[str, pd.DataFrame] = {}


def data(name: str) -> pd.DataFrame:
    """A fresh shallow copy of data set ``name`` (loaded once)."""
    if name not in _DATA:
        _DATA[name] = _load(name)
    return _DATA[name].copy()


#: BTCUSD's prices pass 10k: whole units of it need a larger account
CASH = {"goog": 10_000, "eurusd": 10_000, "btcusd": 1_000_000, "orcl": 10_000}


# ---------------------------------------------------------------------------------------
# indicator functions (plain numpy/pandas, given to self.I)
# ---------------------------------------------------------------------------------------
def SMA(values, n):
    return pd.Series(np.asarray(values, dtype=float)).rolling(n).mean().to_numpy()


# ---------------------------------------------------------------------------------------
# what a strategy sees, recorded per bar
# ---------------------------------------------------------------------------------------
def _last(ind):
    return tuple(float(v) for v in np.atleast_1d(np.asarray(ind, dtype=float)[..., -1]))


def observe_init(strategy):
    """In init(): the data arrays are whole."""
    d = strategy.data
    type(strategy).observed = [("init", len(d), len(d.Close), len(d.index), float(d.Close[-1]), d.index[-1],
                                 float(strategy.equity))]


def observe(strategy, *indicators):
    """In next(): everything revealed up to the current bar.  (``index[-1]``
    on every 8th bar only: slicing a DatetimeIndex per bar is slow.)"""
    d = strategy.data
    pos = strategy.position
    n = len(d)
    type(strategy).observed.append((
        n, len(d.Open), len(d.Close),
        float(d.Open[-1]), float(d.High[-1]), float(d.Low[-1]), float(d.Close[-1]), float(d.Volume[-1]),
        float(d.Close[0]), d.index[-1] if n % 8 == 0 else None,
        pos.size, bool(pos), pos.is_long, pos.is_short, float(pos.pl), float(pos.pl_pct),
        float(strategy.equity), len(strategy.trades), len(strategy.closed_trades),
        tuple(np.shape(ind) for ind in indicators),
        tuple(_last(ind) for ind in indicators),
    ))


# ---------------------------------------------------------------------------------------
# the strategies: each factory takes the base class and crossover
# ---------------------------------------------------------------------------------------
def make_sma_cross(Strategy, crossover):
    class SmaCross(Strategy):
        n1 = 10
        n2 = 20

        def init(self):
            observe_init(self)
            close = self.data.Close
            self.sma1 = self.I(SMA, close, self.n1)
            self.sma2 = self.I(SMA, close, self.n2)

        def next(self):
            observe(self, self.sma1, self.sma2)
            if crossover(self.sma1, self.sma2):
                self.position.close()
                self.buy()
            elif crossover(self.sma2, self.sma1):
                self.position.close()
                self.sell()

    return SmaCross


def _member(name):
    """The factory of the bench's strategy ``name`` (admf_perf.bench.strategy.family:
    the rules written once, for the bench and for this suite), with this
    suite's hooks."""
    def make(Strategy, crossover):
        from admf_perf.bench.strategy import family

        return family(Strategy, observe=observe, observe_init=observe_init)[name]

    make.__name__ = f"make_{name}"
    return make


#: an RSI threshold: self.position, self.rsi[-1] against two levels
make_rsi = _member("RsiThreshold")
#: fractions of equity and whole units, long and short, reducing earlier
#: trades first in, first out (partial closes of trades)
make_fractional = _member("FractionalSizes")
#: decisions on position.pl / pl_pct / is_long, equity, trades and closed_trades
make_position_aware = _member("PositionAware")
#: self.I of a function returning a tuple of two Series, kept whole (self.bb,
#: 2-D) or unpacked into two attributes (unpack=True)
make_bollinger = _member("Bollinger")
#: several orders in one bar (closes are queued before the others)
make_multi_order = _member("MultiOrder")


#: name -> (factory, run() parameters)
STRATEGIES = {
    "sma_cross": (make_sma_cross, {}),
    "rsi": (make_rsi, {}),
    "fractional": (make_fractional, {}),
    "position_aware": (make_position_aware, {}),
    "bollinger": (make_bollinger, {}),
    "bollinger_unpacked": (make_bollinger, {"unpack": True, "n": 15}),
    "multi_order": (make_multi_order, {}),
}

OPTIONS = {
    "default": {},
    "trade_on_close": {"trade_on_close": True},
    "commission": {"commission": 0.002},
    "exclusive": {"exclusive_orders": True},
    "exclusive_off": {"exclusive_orders": False, "finalize_trades": False},
    "finalize": {"finalize_trades": True},
    "all": {"trade_on_close": True, "commission": 0.002, "exclusive_orders": True, "finalize_trades": True},
}

DATASETS = ["goog", "eurusd", "btcusd", "orcl"]


def _matrix():
    cases = set()
    for s in STRATEGIES:                     # every strategy on every data set
        for d in DATASETS:
            cases.add((s, d, "default"))
    for s in STRATEGIES:                     # every option on every strategy (GOOG)
        for o in OPTIONS:
            if s != "bollinger_unpacked" or o == "all":
                if o != "exclusive_off" or s in ("sma_cross", "multi_order"):
                    cases.add((s, "goog", o))
    for o in OPTIONS:                        # every option on the real data
        if o != "exclusive_off":
            cases.add(("sma_cross", "orcl", o))
    cases.update({("multi_order", "orcl", "all"), ("fractional", "orcl", "all")})
    for s in STRATEGIES:                     # all options at once, on the others
        cases.add((s, "btcusd", "all"))
        if s in ("sma_cross", "fractional", "position_aware", "multi_order"):
            cases.add((s, "eurusd", "all"))
    return sorted(cases)


# ---------------------------------------------------------------------------------------
# running and comparing
# ---------------------------------------------------------------------------------------
def run_engine(engine: Engine, factory, df, bt_kwargs=None, run_kwargs=None):
    """(stats, observations) of one run."""
    cls = factory(engine.Strategy, engine.crossover)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = engine.Backtest(df, cls, **(bt_kwargs or {})).run(**(run_kwargs or {}))
    return stats, cls.observed


def _is_nan(x) -> bool:
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def scalar_equal(a, b) -> bool:
    """``a`` (ours) equals ``b`` (backtesting.py's): Timestamps/Timedeltas
    exactly, numbers within RTOL, NaN equals NaN."""
    if b is pd.NaT:
        return a is pd.NaT
    if isinstance(b, pd.Timestamp):
        return isinstance(a, pd.Timestamp) and a == b
    if isinstance(b, pd.Timedelta):
        return isinstance(a, pd.Timedelta) and a == b
    if isinstance(b, (bool, np.bool_)):
        return isinstance(a, (bool, np.bool_)) and bool(a) == bool(b)
    if isinstance(b, numbers.Number):
        if not isinstance(a, numbers.Number) or isinstance(a, (bool, np.bool_)):
            return False
        if math.isnan(b):
            return math.isnan(a)
        if math.isinf(b):
            return a == b
        return math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL)
    return a == b


def _first_diff(ours, ref, close=True):
    """Index and values of the first difference of two 1-D sequences, or None."""
    a, b = list(ours), list(ref)
    if len(a) != len(b):
        return f"lengths differ: {len(a)} (ours) != {len(b)} (backtesting.py)"
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if close:
            ok = scalar_equal(x.item() if isinstance(x, np.generic) else x,
                              y.item() if isinstance(y, np.generic) else y)
        else:
            ok = (pd.isna(x) and pd.isna(y)) if (_is_nan(x) or _is_nan(y)) else x == y
        if not ok:
            return f"first difference at row {i}: {x!r} (ours) != {y!r} (backtesting.py)"
    return None


def assert_equity_curve_equal(ours: pd.DataFrame, ref: pd.DataFrame):
    assert isinstance(ours, pd.DataFrame)
    assert list(ours.columns) == list(ref.columns), (list(ours.columns), list(ref.columns))
    pd.testing.assert_index_equal(ours.index, ref.index)
    np.testing.assert_allclose(ours["Equity"].to_numpy(float), ref["Equity"].to_numpy(float), rtol=RTOL, atol=0,
                               err_msg=_first_diff(ours["Equity"], ref["Equity"]) or "")
    np.testing.assert_allclose(ours["DrawdownPct"].to_numpy(float), ref["DrawdownPct"].to_numpy(float),
                               rtol=RTOL, atol=ATOL,
                               err_msg=_first_diff(ours["DrawdownPct"], ref["DrawdownPct"]) or "")
    diff = _first_diff(ours["DrawdownDuration"], ref["DrawdownDuration"], close=False)
    assert diff is None, f"DrawdownDuration: {diff}"


TRADE_EXACT = ["Size", "EntryBar", "ExitBar"]
TRADE_CLOSE = ["EntryPrice", "ExitPrice", "PnL", "ReturnPct", "Commission"]
TRADE_TIMES = ["EntryTime", "ExitTime", "Duration"]


def assert_trades_equal(ours: pd.DataFrame, ref: pd.DataFrame):
    assert isinstance(ours, pd.DataFrame)
    assert len(ours) == len(ref), f"{len(ours)} trades (ours) != {len(ref)} (backtesting.py)"
    for col in TRADE_EXACT + TRADE_CLOSE + TRADE_TIMES:
        assert col in ours.columns, f"_trades lacks column {col!r}"
    for col in TRADE_EXACT:
        a, b = ours[col].to_numpy(float), ref[col].to_numpy(float)
        assert np.array_equal(a, b), f"_trades[{col!r}]: {_first_diff(a, b, close=False)}"
    for col in TRADE_CLOSE:
        a, b = ours[col].to_numpy(float), ref[col].to_numpy(float)
        assert np.allclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True), f"_trades[{col!r}]: {_first_diff(a, b)}"
    for col in TRADE_TIMES:
        diff = _first_diff(ours[col], ref[col], close=False)
        assert diff is None, f"_trades[{col!r}]: {diff}"


def assert_stats_equal(ours: pd.Series, ref: pd.Series):
    assert isinstance(ours, pd.Series)
    assert list(ours.index) == list(ref.index), \
        f"keys differ: ours - ref = {[k for k in ours.index if k not in ref.index]}, " \
        f"ref - ours = {[k for k in ref.index if k not in ours.index]}; ours {list(ours.index)}"
    for key in ref.index:
        if key == "_strategy":
            continue
        if key == "_equity_curve":
            assert_equity_curve_equal(ours[key], ref[key])
        elif key == "_trades":
            assert_trades_equal(ours[key], ref[key])
        else:
            assert scalar_equal(ours[key], ref[key]), \
                f"stats[{key!r}]: {ours[key]!r} ({type(ours[key]).__name__}, ours) != " \
                f"{ref[key]!r} ({type(ref[key]).__name__}, backtesting.py)"


_OBS_FIELDS = ("len(data)", "len(Open)", "len(Close)", "Open[-1]", "High[-1]", "Low[-1]",
               "Close[-1]", "Volume[-1]", "Close[0]", "index[-1]", "position.size", "bool(position)",
               "position.is_long", "position.is_short", "position.pl", "position.pl_pct", "equity",
               "len(trades)", "len(closed_trades)", "indicator shapes", "indicator[-1]")


def _value_equal(a, b) -> bool:
    if b is None:
        return a is None
    if isinstance(b, tuple):
        return isinstance(a, tuple) and len(a) == len(b) and all(_value_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(b, pd.Timestamp):
        return a == b
    if isinstance(a, np.generic):
        a = a.item()
    return scalar_equal(a, b)


def assert_observed_equal(ours: list, ref: list):
    assert _value_equal(ours[0], ref[0]), f"in init(): {ours[0]} (ours) != {ref[0]} (backtesting.py)"
    assert len(ours) == len(ref), \
        f"next() called {len(ours) - 1} times (ours) != {len(ref) - 1} (backtesting.py); " \
        f"first bars: {ours[1][:1] if len(ours) > 1 else None} != {ref[1][:1] if len(ref) > 1 else None}"
    for row_o, row_r in zip(ours[1:], ref[1:], strict=True):
        if row_o == row_r:  # the fast path (NaN != NaN: those rows take the one below)
            continue
        assert len(row_o) == len(row_r)
        for name, x, y in zip(_OBS_FIELDS, row_o, row_r, strict=True):
            assert _value_equal(x, y), \
                f"in next() at len(data)={row_r[0]}: {name} = {x!r} (ours) != {y!r} (backtesting.py)"


def compare(ours: Engine, ref: Engine, factory, df, bt_kwargs=None, run_kwargs=None):
    """Run both engines; assert everything equal; return backtesting.py's
    stats and observations."""
    stats_r, obs_r = run_engine(ref, factory, df.copy(), bt_kwargs, run_kwargs)
    stats_o, obs_o = run_engine(ours, factory, df.copy(), bt_kwargs, run_kwargs)
    assert_observed_equal(obs_o, obs_r)
    assert_trades_equal(stats_o["_trades"], stats_r["_trades"])
    assert_equity_curve_equal(stats_o["_equity_curve"], stats_r["_equity_curve"])
    assert_stats_equal(stats_o, stats_r)
    assert len(obs_r) > 1, "next() was never called: the comparison compares nothing"
    return stats_r, obs_r


# ---------------------------------------------------------------------------------------
# the matrix: strategy x data set x options
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("strategy", "dataset", "options"), _matrix())
def test_same_as_backtesting_py(ours, ref, strategy, dataset, options):
    factory, params = STRATEGIES[strategy]
    bt_kwargs = {"cash": CASH[dataset], **OPTIONS[options]}
    compare(ours, ref, factory, data(dataset), bt_kwargs, params)


def test_matrix_trades_in_reference(ref):
    """The reference runs of the matrix's default cases trade (so the
    comparisons compare trades), on GOOG for every strategy."""
    for name, (factory, params) in STRATEGIES.items():
        stats, _ = run_engine(ref, factory, data("goog"), {"cash": 10_000}, params)
        assert stats["# Trades"] >= 3, name


@pytest.mark.parametrize("params", [{"n1": 5, "n2": 30}, {"n1": 20, "n2": 50}])
def test_run_parameters(ours, ref, params):
    """run(**params) overrides the class-level parameters."""
    stats, _ = compare(ours, ref, make_sma_cross, data("goog"), {"cash": 10_000}, params)
    assert stats["_equity_curve"].shape[0] == len(data("goog"))


@pytest.mark.parametrize("strategy", ["sma_cross", "fractional", "multi_order"])
def test_orders_canceled_for_insufficient_cash(ours, ref, strategy):
    """BTCUSD with 10k cash: once a unit costs more than the equity, the
    broker cancels the orders (backtesting.py warns); the results still agree."""
    factory, params = STRATEGIES[strategy]
    compare(ours, ref, factory, data("btcusd"), {"cash": 10_000}, params)


def make_sell_and_hold(Strategy, crossover):
    class SellAndHold(Strategy):
        def init(self):
            observe_init(self)

        def next(self):
            observe(self)
            if not self.position and not self.closed_trades:
                self.sell()

    return SellAndHold


@pytest.mark.parametrize("options", ["default", "finalize", "commission"])
def test_out_of_money(ours, ref, options):
    """Short BTC from 2012: equity reaches 0, the simulation stops (the
    equity curve is 0 from then on)."""
    stats, _ = compare(ours, ref, make_sell_and_hold, data("btcusd"), {"cash": 10_000, **OPTIONS[options]})
    assert stats["Equity Final [$]"] == 0


def test_warmup_counts_only_assigned_indicators(ours, ref):
    """The first next() is after the longest NaN warm-up of the indicators
    kept as attributes of the strategy; one declared but not kept does not
    delay it (backtesting.py's _indicator_warmup_nbars)."""
    def make(Strategy, crossover):
        class Unassigned(Strategy):
            def init(self):
                observe_init(self)
                self.I(SMA, self.data.Close, 60)
                self.sma = self.I(SMA, self.data.Close, 5)

            def next(self):
                observe(self, self.sma)
                if crossover(self.data.Close, self.sma):
                    self.buy()
                elif crossover(self.sma, self.data.Close):
                    self.position.close()
        return Unassigned

    _, observed = compare(ours, ref, make, data("goog"), {"cash": 10_000})
    assert observed[1][0] == 6  # the first next() at bar 5 (SMA 5), not at bar 60


def test_all_nan_indicator_starts_at_bar_one(ours, ref):
    """An indicator that is NaN throughout (SMA longer than the data) counts
    as no warm-up at all in backtesting.py (argmin of all-True is 0): the
    run starts after the other SMA's warm-up, and never trades."""
    _, observed = compare(ours, ref, make_sma_cross, data("goog").iloc[:150], {"cash": 10_000},
                          {"n1": 10, "n2": 200})
    assert observed[1][0] == 11  # the first next() at bar 10, after the SMA 10's warm-up alone


def test_trade_objects_observed(ours, ref):
    """The Trade objects of self.trades / self.closed_trades: size, prices,
    bars, pl, pl_pct, is_long, as backtesting.py's."""
    def make(Strategy, crossover):
        inner = make_fractional(Strategy, crossover)

        class WithTrades(inner):
            def next(self):
                super().next()
                type(self).observed.append((
                    tuple((t.size, t.entry_price, t.entry_bar, t.pl, t.pl_pct, t.is_long, t.is_short, t.entry_time)
                          for t in self.trades),
                    tuple((t.size, t.entry_price, t.exit_price, t.entry_bar, t.exit_bar, t.pl, t.pl_pct,
                           t.exit_time) for t in self.closed_trades[-3:]),
                ))
        return WithTrades

    stats_r, obs_r = run_engine(ref, make, data("goog").iloc[:600], {"cash": 10_000})
    stats_o, obs_o = run_engine(ours, make, data("goog").iloc[:600], {"cash": 10_000})
    assert len(obs_o) == len(obs_r)
    for i, (x, y) in enumerate(zip(obs_o, obs_r, strict=True)):
        if len(y) == 2:
            assert _value_equal(x, y), f"observation {i}: {x} (ours) != {y} (backtesting.py)"
    assert any(len(y) == 2 and y[0] for y in obs_r)


def test_trades_frame_columns(ours, ref):
    """The whole _trades frame: the same columns in the same order (SL, TP,
    Tag and the Entry_/Exit_ indicator values too) and equal values."""
    stats_r, _ = run_engine(ref, make_bollinger, data("goog"), {"cash": 10_000, "commission": 0.001})
    stats_o, _ = run_engine(ours, make_bollinger, data("goog"), {"cash": 10_000, "commission": 0.001})
    tr, to = stats_r["_trades"], stats_o["_trades"]
    assert list(to.columns) == list(tr.columns)
    for col in tr.columns:
        if col in TRADE_TIMES or tr[col].dtype == object:
            diff = _first_diff(to[col], tr[col], close=False)
        else:
            diff = _first_diff(to[col].to_numpy(float), tr[col].to_numpy(float))
        assert diff is None, f"_trades[{col!r}]: {diff}"


def test_extra_columns_and_unsorted_index(ours, ref):
    """Extra data columns are carried along; an unsorted index is sorted
    (backtesting.py warns and sorts)."""
    if not ORCL_CSV.is_file():
        pytest.skip(f"shared data not found at {ORCL_CSV}")
    raw = pd.read_csv(ORCL_CSV, index_col="Date", parse_dates=True).iloc[:1500]
    compare(ours, ref, make_sma_cross, raw, {"cash": 10_000})
    shuffled = raw.sample(frac=1.0, random_state=3)
    compare(ours, ref, make_sma_cross, shuffled, {"cash": 10_000})


@pytest.mark.parametrize("unit", ["s", "ms", "ns"])
def test_uneven_spacing_rounds_durations_as_pandas_does(ours, ref, unit):
    """Bars one day and one day plus a tick apart, alternating: the median
    spacing falls between two ticks, and pandas truncates it to the index's
    unit; the durations are rounded up to that (backtesting.py's rounding).
    99 bars: the spacing is the median of the last 100 bars, and only an
    even count of spans (here 98) has a median between two of them."""
    df = data("goog").iloc[:99].copy()
    tick = {"s": 1, "ms": 1_000, "ns": 1_000_000_000}[unit]
    steps = np.where(np.arange(len(df)) % 2, 86_400 * tick, 86_400 * tick + 1)
    steps[0] = 0
    start = pd.Timestamp("2020-01-01").as_unit(unit).value // {"s": 10**9, "ms": 10**6, "ns": 1}[unit]
    df.index = pd.DatetimeIndex((start + np.cumsum(steps)).astype(f"datetime64[{unit}]"))
    stats, _ = compare(ours, ref, make_sma_cross, df, {"cash": 10_000})
    assert stats["# Trades"] >= 2 and stats["Max. Drawdown Duration"] > pd.Timedelta(0)


def test_repeated_timestamps_place_drawdowns_by_label(ours, ref):
    """An index whose timestamps repeat (backtesting.py allows it): each
    drawdown's duration and depth go to every bar of its end's label, as
    backtesting.py's reindex puts them, and count once per bar."""
    df = data("goog").iloc[:400].copy()
    df.index = df.index[:200].append(df.index[:200])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # both sort the index, and say so
        stats, _ = compare(ours, ref, make_sma_cross, df, {"cash": 10_000})
    assert stats["_equity_curve"]["DrawdownDuration"].notna().sum() >= 2


def test_input_frame_untouched(ours):
    df = data("goog").iloc[:400]
    before = df.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours.Backtest(df, make_sma_cross(ours.Strategy, ours.crossover)).run()
    pd.testing.assert_frame_equal(df, before)


def test_backtesting_defaults_accepted(ours, ref):
    """backtesting.py's own defaults of the features outside the subset
    (spread=0, margin=1, hedging=False) are accepted and change nothing."""
    defaults = {"cash": 10_000, "spread": 0.0, "margin": 1.0, "hedging": False}
    compare(ours, ref, make_sma_cross, data("goog"), defaults)


@pytest.mark.parametrize("commission", [(1.0, 0.001), "callable"])
def test_commission_forms(ours, ref, commission):
    """backtesting.py also takes commission=(fixed, relative) or a callable:
    either the same results or a NotImplementedError naming commission."""
    if commission == "callable":
        def commission(size, price):
            return 0.5 + abs(size) * price * 0.001
    df = data("goog").iloc[:800]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours.Backtest(df, make_sma_cross(ours.Strategy, ours.crossover), commission=commission).run()
    except NotImplementedError as e:
        assert "commission" in str(e)
        return
    compare(ours, ref, make_sma_cross, df, {"commission": commission})


# ---------------------------------------------------------------------------------------
# crossover and the exports
# ---------------------------------------------------------------------------------------
CROSS_CASES = [
    ([1.0, 2.0], [2.0, 1.0]),
    ([2.0, 1.0], [1.0, 2.0]),
    ([1.0, 3.0], 2.0),
    (2.0, [1.0, 3.0]),
    ([3.0, 1.0], 2.0),
    ([1.0, 2.0], [1.0, 1.0]),      # equal at -2: no cross
    ([1.0, 2.0], [0.5, 2.0]),      # equal at -1: no cross
    ([np.nan, 2.0], [1.0, 1.0]),
    ([5.0], [1.0]),                 # too short
    ([], []),
    ([0.0, 1.0, 0.5, 2.0], [1.0, 1.0, 1.0, 1.0]),
    ("series", "series"),
]


@pytest.mark.parametrize(("a", "b"), CROSS_CASES, ids=range(len(CROSS_CASES)))
def test_crossover(ours, ref, a, b):
    if isinstance(a, str):
        a = pd.Series([3.0, 1.0, 0.0, 4.0], index=[10, 20, 30, 40])
        b = pd.Series([2.0, 2.0, 2.0, 2.0], index=[10, 20, 30, 40])
    if isinstance(a, list):
        a = np.array(a)
    if isinstance(b, list):
        b = np.array(b)
    assert bool(ours.crossover(a, b)) == bool(ref.crossover(a, b))


def test_crossover_truth_values(ours):
    assert ours.crossover(np.array([1.0, 3.0]), np.array([2.0, 2.0]))
    assert not ours.crossover(np.array([3.0, 1.0]), np.array([2.0, 2.0]))


def test_exports(ours):
    import admf_perf
    import admf_perf.research as research
    from admf_perf.research import strategy as m

    assert research.Strategy is m.Strategy is ours.Strategy
    assert research.Backtest is m.Backtest
    assert research.crossover is m.crossover
    assert admf_perf.Strategy is m.Strategy
    assert admf_perf.Backtest is m.Backtest


# ---------------------------------------------------------------------------------------
# optimize
# ---------------------------------------------------------------------------------------
def _optimize(engine, factory, df, bt_kwargs=None, **kwargs):
    cls = factory(engine.Strategy, engine.crossover)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return engine.Backtest(df, cls, **(bt_kwargs or {})).optimize(**kwargs)


def _calmar_like(stats):
    return stats["Equity Final [$]"] / max(1.0, -stats["Max. Drawdown [%]"])


def assert_heatmap_equal(ours: pd.Series, ref: pd.Series):
    assert isinstance(ours, pd.Series)
    assert isinstance(ours.index, pd.MultiIndex) or ref.index.nlevels == 1
    assert list(ours.index.names) == list(ref.index.names)
    assert list(ours.index) == list(ref.index), f"{list(ours.index)} != {list(ref.index)}"
    assert ours.name == ref.name
    diff = _first_diff(ours.to_numpy(float), ref.to_numpy(float))
    assert diff is None, f"heatmap: {diff}\nours:\n{ours}\nbacktesting.py:\n{ref}"


@pytest.mark.parametrize("maximize", ["SQN", "Return [%]", _calmar_like], ids=["SQN", "Return", "callable"])
def test_optimize_grid(ours, ref, serial_ref_pool, maximize):
    df = data("goog").iloc[:1200]
    kw = dict(n1=[5, 10, 15], n2=[20, 30], constraint=lambda p: p.n2 - p.n1 >= 10, maximize=maximize,
              return_heatmap=True)
    stats_r, heat_r = _optimize(ref, make_sma_cross, df, **kw)
    stats_o, heat_o = _optimize(ours, make_sma_cross, df, **kw)
    assert len(heat_r) == 5
    assert_heatmap_equal(heat_o, heat_r)
    assert_stats_equal(stats_o, stats_r)


def test_optimize_without_heatmap(ours, ref, serial_ref_pool):
    df = data("goog").iloc[:1200]
    stats_r = _optimize(ref, make_sma_cross, df, n1=[5, 10], n2=[20, 40])
    stats_o = _optimize(ours, make_sma_cross, df, n1=[5, 10], n2=[20, 40])
    assert isinstance(stats_o, pd.Series)
    assert_stats_equal(stats_o, stats_r)


def test_optimize_takes_a_numpy_range_as_its_values(ours, ref, serial_ref_pool):
    """np.arange(...) as a parameter's range: its values, as the same list
    gives (backtesting.py takes the array as one value and fails to hash it)."""
    df = data("goog").iloc[:600]
    kw = dict(maximize="SQN", return_heatmap=True)
    stats_l, heat_l = _optimize(ours, make_bollinger, df, n=[10, 20], k=[1.5, 2.0, 2.5], **kw)
    stats_a, heat_a = _optimize(ours, make_bollinger, df, n=np.array([10, 20]), k=np.arange(1.5, 3.0, 0.5), **kw)
    assert_heatmap_equal(heat_a, heat_l)
    assert_stats_equal(stats_a, stats_l)
    with pytest.raises(TypeError):
        _optimize(ref, make_bollinger, df, n=[10, 20], k=np.arange(1.5, 3.0, 0.5), **kw)


def test_optimize_nan_where_no_trades(ours, ref, serial_ref_pool):
    """Runs without a closed trade are NaN in the heatmap and never best."""
    df = data("orcl").iloc[:800]
    kw = dict(lower=[5, 25, 35], upper=[65, 80], maximize="SQN", return_heatmap=True)
    stats_r, heat_r = _optimize(ref, make_rsi, df, **kw)
    stats_o, heat_o = _optimize(ours, make_rsi, df, **kw)
    assert heat_r.isna().any() and heat_r.notna().any()
    assert_heatmap_equal(heat_o, heat_r)
    assert_stats_equal(stats_o, stats_r)


def test_optimize_all_nan(ours, ref, serial_ref_pool):
    """No run trades: the heatmap is all NaN and the stats are those of the
    first admissible combination."""
    df = data("goog").iloc[:300]
    kw = dict(lower=[1, 2], upper=[99, 98], maximize="SQN", return_heatmap=True,
              constraint=lambda p: p.upper != 99 or p.lower != 1)
    stats_r, heat_r = _optimize(ref, make_rsi, df, **kw)
    stats_o, heat_o = _optimize(ours, make_rsi, df, **kw)
    assert heat_r.isna().all()
    assert_heatmap_equal(heat_o, heat_r)
    assert_stats_equal(stats_o, stats_r)


def test_optimize_randomized_grid(ours, ref, serial_ref_pool):
    """max_tries and random_state: the same sample of the grid."""
    df = data("goog").iloc[:1000]
    kw = dict(n1=[4, 6, 8, 10, 12], n2=[20, 25, 30], max_tries=6, random_state=7, return_heatmap=True)
    stats_r, heat_r = _optimize(ref, make_sma_cross, df, **kw)
    stats_o, heat_o = _optimize(ours, make_sma_cross, df, **kw)
    assert 0 < len(heat_r) < 15
    assert_heatmap_equal(heat_o, heat_r)
    assert_stats_equal(stats_o, stats_r)


_PICKLABLE: dict[str, type] = {}


def __getattr__(name):
    """PEP 562: ``PicklableSmaCross``, an admf_perf SmaCross reachable by
    module and name, so that a worker process can unpickle it."""
    if name == "PicklableSmaCross":
        if name not in _PICKLABLE:
            from admf_perf.research import strategy as m

            cls = make_sma_cross(m.Strategy, m.crossover)
            cls.__name__ = cls.__qualname__ = name
            cls.__module__ = __name__
            _PICKLABLE[name] = cls
        return _PICKLABLE[name]
    raise AttributeError(name)


def test_optimize_workers(ours, ref, serial_ref_pool):
    """workers=2 gives what backtesting.py (and workers=1) gives."""
    df = data("goog").iloc[:800]
    kw = dict(n1=[5, 10, 15], n2=[20, 30], return_heatmap=True)
    stats_r, heat_r = _optimize(ref, make_sma_cross, df, **kw)
    cls = sys.modules[__name__].PicklableSmaCross
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats_o, heat_o = ours.Backtest(df, cls).optimize(workers=2, **kw)
    assert_heatmap_equal(heat_o, heat_r)
    assert_stats_equal(stats_o, stats_r)


# ---------------------------------------------------------------------------------------
# refusals: outside the subset, and bad arguments
# ---------------------------------------------------------------------------------------
def _order_strategy(Strategy, method, kwargs_of):
    class Orders(Strategy):
        def init(self):
            pass

        def next(self):
            getattr(self, method)(**kwargs_of(self.data.Close[-1]))

    return Orders


@pytest.mark.parametrize(("method", "kwarg", "factor", "match"), [
    ("buy", "limit", 0.99, r"\blimit\b"),
    ("buy", "stop", 1.01, r"\bstop\b"),
    ("buy", "sl", 0.9, r"\bsl\b|stop.loss"),
    ("buy", "tp", 1.1, r"\btp\b|take.profit"),
    ("sell", "limit", 1.01, r"\blimit\b"),
    ("sell", "stop", 0.99, r"\bstop\b"),
    ("sell", "sl", 1.1, r"\bsl\b|stop.loss"),
    ("sell", "tp", 0.9, r"\btp\b|take.profit"),
])
def test_order_types_not_implemented(ours, method, kwarg, factor, match):
    cls = _order_strategy(ours.Strategy, method, lambda c: {kwarg: c * factor})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NotImplementedError, match=match):
            ours.Backtest(data("goog").iloc[:50], cls).run()


@pytest.mark.parametrize("size", [0, -0.5, 1.5, -2])
def test_bad_order_size(ours, size):
    """backtesting.py asserts (AssertionError) 0 < size < 1 or a whole
    number >= 1; the message names size."""
    cls = _order_strategy(ours.Strategy, "buy", lambda c: {"size": size})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((ValueError, AssertionError), match="size"):
            ours.Backtest(data("goog").iloc[:50], cls).run()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"hedging": True}, "hedging"),
    ({"margin": 0.5}, "margin"),
    ({"spread": 0.001}, "spread"),
])
def test_backtest_features_not_implemented(ours, kwargs, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NotImplementedError, match=match):
            ours.Backtest(data("goog").iloc[:100], make_sma_cross(ours.Strategy, ours.crossover), **kwargs).run()


def _bad_frames():
    g = data("goog").iloc[:100]
    nan = g.copy()
    nan.iloc[10, nan.columns.get_loc("Close")] = np.nan
    return {
        "missing_open": (g.drop(columns=["Open"]), ValueError, "Open"),
        "empty": (g.iloc[:0], ValueError, "empty|data"),
        "nan": (nan, ValueError, "NaN|missing"),
        "ndarray": (g.to_numpy(), TypeError, "data"),
        "dict": (g.to_dict("list"), TypeError, "data"),
    }


@pytest.mark.parametrize("case", ["missing_open", "empty", "nan", "ndarray", "dict"])
def test_bad_data(ours, case):
    df, exc, match = _bad_frames()[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(exc, match=match):
            ours.Backtest(df, make_sma_cross(ours.Strategy, ours.crossover)).run()


@pytest.mark.parametrize("cash", [-1, 0])
def test_bad_cash(ours, cash):
    with pytest.raises(ValueError, match="cash"):
        ours.Backtest(data("goog").iloc[:100], make_sma_cross(ours.Strategy, ours.crossover), cash=cash).run()


def test_bad_commission_type(ours):
    with pytest.raises(TypeError, match="commission"):
        ours.Backtest(data("goog").iloc[:100], make_sma_cross(ours.Strategy, ours.crossover),
                      commission="0.1").run()


def test_bad_strategy(ours, ref):
    with pytest.raises(TypeError, match="strategy"):
        ours.Backtest(data("goog").iloc[:100], object).run()
    with pytest.raises(TypeError, match="strategy"):
        ours.Backtest(data("goog").iloc[:100], 42).run()
    # a backtesting.py strategy given to admf_perf (the import not changed)
    with pytest.raises(TypeError, match="strategy"):
        ours.Backtest(data("goog").iloc[:100], make_sma_cross(ref.Strategy, ref.crossover)).run()


def test_unknown_run_parameter(ours, ref):
    cls = make_sma_cross(ours.Strategy, ours.crossover)
    with pytest.raises(AttributeError, match="foo"):
        ours.Backtest(data("goog").iloc[:100], cls).run(foo=1)
    # backtesting.py too (the test is about the same behaviour)
    with pytest.raises(AttributeError, match="foo"):
        ref.Backtest(data("goog").iloc[:100], make_sma_cross(ref.Strategy, ref.crossover)).run(foo=1)


@pytest.mark.parametrize("name", ["data", "position", "equity", "trades", "closed_trades", "orders"])
def test_a_run_parameter_cannot_replace_what_the_engine_shows(ours, ref, name):
    """``run(data=...)`` (or position, equity, trades, ...) is an
    AttributeError naming it, as backtesting.py's (whose are properties with
    no setter), never a run whose ``self.data`` is the parameter."""
    cls = make_sma_cross(ours.Strategy, ours.crossover)
    with pytest.raises(AttributeError, match=name):
        ours.Backtest(data("goog").iloc[:100], cls).run(**{name: 1})
    with pytest.raises(AttributeError):
        ref.Backtest(data("goog").iloc[:100], make_sma_cross(ref.Strategy, ref.crossover)).run(**{name: 1})


def test_indicator_of_wrong_length(ours):
    def make(Strategy, crossover):
        class Short(Strategy):
            def init(self):
                self.x = self.I(lambda v: np.asarray(v)[:-1], self.data.Close)

            def next(self):
                pass
        return Short

    with pytest.raises(ValueError, match="length"):
        ours.Backtest(data("goog").iloc[:100], make(ours.Strategy, ours.crossover)).run()


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({}, ValueError, "parameter"),
    ({"n1": [5, 10], "maximize": "No such key"}, ValueError, "maximize"),
    ({"n1": [5, 10], "maximize": 3}, TypeError, "maximize"),
    ({"n1": [5, 10], "constraint": 5}, TypeError, "constraint"),
    ({"n1": []}, ValueError, "n1"),
    ({"n1": [5, 10], "constraint": lambda p: False}, ValueError, "admissible|constraint"),
    ({"n1": [5, 10], "method": "sambo"}, NotImplementedError, "sambo|method"),
])
def test_bad_optimize(ours, kwargs, exc, match):
    bt = ours.Backtest(data("goog").iloc[:200], make_sma_cross(ours.Strategy, ours.crossover))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(exc, match=match):
            bt.optimize(**kwargs)


# ---------------------------------------------------------------------------------------
# from backtesting.py's own suite (backtesting/test/_test.py), within the subset
# ---------------------------------------------------------------------------------------
def test_results_pickle_to_another_process(ours):
    """backtesting.py's test_indicators_picklable: a Backtest run in a worker
    process returns its statistics, the strategy's indicators with their names."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    cls = make_sma_cross(ours.Strategy, ours.crossover)
    cls.__module__, cls.__qualname__ = __name__, "PicklableSmaCross"
    globals()["PicklableSmaCross"] = cls
    bt = ours.Backtest(data("goog").iloc[:60], cls, commission=0.002)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ProcessPoolExecutor(1, mp_context=mp.get_context("fork")) as pool:
            stats = pool.submit(bt.run).result()
        here = bt.run()
    assert stats._strategy._indicators[0].name == here._strategy._indicators[0].name
    assert stats._strategy._indicators[0]._opts["scatter"] is False
    assert stats["Equity Final [$]"] == here["Equity Final [$]"]


def test_a_column_added_in_init_is_revealed(ours, ref):
    """backtesting.py's test_pandas_accessors: a column init() adds to
    data.df is an array in next(), revealed like the others; the Backtest's
    data is not changed for the next run."""
    def factory(Strategy, crossover):
        class S(Strategy):
            def init(self):
                self.data.df["new_key"] = 2 * self.data.Close
                self.seen = []

            def next(self):
                assert self.data.df["new_key"].equals(pd.Series(self.data.new_key, index=self.data.index))
                self.seen.append((len(self.data.new_key), float(self.data["new_key"][-1])))
        return S

    df = data("goog").iloc[:20]
    for engine in (ours, ref):
        bt = engine.Backtest(df, factory(engine.Strategy, engine.crossover))
        first = bt.run()._strategy.seen
        assert first == [(i + 1, 2 * df.Close.iloc[i]) for i in range(1, 20)]
        assert "new_key" not in df.columns
        assert bt.run()._strategy.seen == first


def test_refused_outside_the_subset(ours):
    bt = ours.Backtest(data("goog").iloc[:60], make_sma_cross(ours.Strategy, ours.crossover))
    with pytest.raises(NotImplementedError, match="plot"):
        bt.plot()
    with pytest.raises(ValueError, match="return_optimization"):
        bt.optimize(n1=[5, 10], n2=[20], return_optimization=True)

    class SetsStopLoss(ours.Strategy):
        def init(self):
            pass

        def next(self):
            if not self.position:
                self.buy()
            elif self.trades:
                self.trades[0].sl = 1.0

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NotImplementedError, match=r"stop-loss order \(Trade\.sl\)"):
            ours.Backtest(data("goog").iloc[:60], SetsStopLoss).run()


def test_run_docstring_names_every_statistic(ours):
    """backtesting.py's test_backtest_run_docstring_contains_stats_keys."""
    stats = ours.Backtest(data("goog").iloc[:100], make_sma_cross(ours.Strategy, ours.crossover),
                          commission=0.002, finalize_trades=True).run()
    for key in stats.index:
        assert key in ours.Backtest.run.__doc__, key


def _whole_units(Strategy, crossover):
    class WholeUnits(Strategy):
        def init(self):
            observe_init(self)

        def next(self):
            observe(self)
            k = len(self.data) % 7
            if k == 2:
                self.buy(size=2)
            elif k == 5:
                self.sell(size=3)
            elif k == 0:
                self.position.close()

    return WholeUnits


def test_a_trade_entered_at_zero_gives_backtesting_pys_inf_and_nan(ours, ref):
    """Open and Close 0 on a fill bar (bad data): the trade enters at 0,
    and its return is backtesting.py's float64 division (inf or NaN), not an
    error."""
    df = data("goog").iloc[:120].copy()
    df.loc[df.index[9::14], ["Open", "High", "Low", "Close"]] = 0.0
    stats, _ = compare(ours, ref, _whole_units, df, {"cash": 10_000, "finalize_trades": True})
    assert (stats["_trades"]["EntryPrice"] == 0).any()


def test_int_prices_give_backtesting_pys_types(ours, ref):
    """Integer price columns: a trade enters at a float (backtesting.py's
    adjusted price is the price times 1.0) and exits at the raw int, so the
    trades' dtypes and a trade's repr are backtesting.py's."""
    df = data("goog").iloc[:150].astype({"Open": int, "Close": int})
    stats_r, _ = run_engine(ref, _whole_units, df.copy(), {"cash": 10_000})
    stats_o, _ = run_engine(ours, _whole_units, df.copy(), {"cash": 10_000})
    assert stats_o["_trades"].dtypes.to_dict() == stats_r["_trades"].dtypes.to_dict()
    assert_trades_equal(stats_o["_trades"], stats_r["_trades"])
    assert_stats_equal(stats_o, stats_r)
    t_o, t_r = stats_o["_strategy"].closed_trades[0], stats_r["_strategy"].closed_trades[0]
    assert repr(t_o) == repr(t_r) and isinstance(t_o.entry_price, float)


def test_an_orders_repr_is_backtesting_pys(ours, ref):
    seen = {}

    def tagged(Strategy, crossover):
        class Tagged(Strategy):
            def init(self):
                observe_init(self)

            def next(self):
                if len(self.data) == 5:
                    seen.setdefault(Strategy, []).extend(
                        repr(o) for o in (self.buy(size=0.3333333, tag=1.23456789), self.sell(size=2, tag="x"),
                                          self.buy(size=1)))

        return Tagged

    run_engine(ref, tagged, data("goog").iloc[:20], {"cash": 10_000})
    run_engine(ours, tagged, data("goog").iloc[:20], {"cash": 10_000})
    assert seen[ours.Strategy] == seen[ref.Strategy] and len(seen[ref.Strategy]) == 3


def test_after_running_out_of_money_the_trades_left_are_priced_as_backtesting_pys(ours, ref):
    """backtesting.py's out-of-money loop closes every other trade (it
    removes as it iterates); after the run, the data is shown whole, so what
    is left is priced at the last bar's close: so is ours."""
    df = data("goog").iloc[:60].copy()
    for c in ("Open", "High", "Low", "Close"):
        df[c] = np.linspace(10, 500, 60)

    def shorts(Strategy, crossover):
        class Shorts(Strategy):
            def init(self):
                observe_init(self)

            def next(self):
                if len(self.data) in (3, 4, 5):
                    self.sell(size=100)

        return Shorts

    stats_r, _ = run_engine(ref, shorts, df.copy(), {"cash": 10_000})
    stats_o, _ = run_engine(ours, shorts, df.copy(), {"cash": 10_000})
    assert_stats_equal(stats_o, stats_r)
    s_o, s_r = stats_o["_strategy"], stats_r["_strategy"]
    assert len(s_r.trades) >= 1 and len(s_o.trades) == len(s_r.trades)
    assert [t.pl for t in s_o.trades] == [t.pl for t in s_r.trades]
    assert (s_o.position.pl, s_o.equity) == (s_r.position.pl, s_r.equity)


def _derived(Strategy, crossover):
    """Indicators made from indicators and data by numpy arithmetic in init()
    and next() (backtesting.py's arrays keep their name and options)."""
    def sma(values, n):
        return pd.Series(np.asarray(values, dtype=float)).rolling(n).mean().to_numpy()

    class Derived(Strategy):
        def init(self):
            observe_init(self)
            self.a = self.I(sma, self.data.Close, 10)
            self.band = self.a * 1.01           # an indicator by arithmetic: revealed, warm-up counted
            self.mid = self.I(sma, (self.data.High + self.data.Low) / 2, 5)

        def next(self):
            observe(self, self.a, self.band, self.mid)
            m = (self.data.High + self.data.Low) / 2
            type(self).observed.append((m.name, len(m.s), self.band.name))
            if not self.position and self.data.Close[-1] > self.band[-1]:
                self.buy()
            elif self.position and self.data.Close[-1] < self.mid[-1]:
                self.position.close()

    return Derived


def test_arrays_made_by_arithmetic_keep_their_name_and_reveal_as_backtesting_py(ours, ref):
    stats, observed = compare(ours, ref, _derived, data("goog").iloc[:300], {"cash": 10_000})
    named = [o for o in observed if len(o) == 3]
    assert named and all(o[0] == "High" and o[2] == "sma(C,10)" for o in named)
    assert stats["# Trades"] > 0


def _rewrites_close(Strategy, crossover):
    class Rewrites(Strategy):
        def init(self):
            observe_init(self)
            df = self.data.df
            df["Close"] = df["Close"] * 2           # an existing column changed: the run takes it
            df["Open"] = df["Open"] * 2
            df["Mid"] = (df["High"] + df["Low"]) / 2

        def next(self):
            observe(self)
            type(self).observed.append(float(self.data.Mid[-1]))
            if len(self.data) % 15 == 0:
                self.buy(size=0.5) if not self.position else self.position.close()

    return Rewrites


def test_columns_changed_in_init_are_what_the_run_sees_and_fills_at(ours, ref):
    """backtesting.py's data._update(): a column init() changed in data.df
    (not only one it added) is revealed, filled at and marked at."""
    stats, observed = compare(ours, ref, _rewrites_close, data("goog").iloc[:200], {"cash": 10_000})
    first = observed[1]                     # (bars shown, ..., Close[-1] at 6, ...)
    assert stats["# Trades"] > 3 and first[6] == 2 * float(data("goog")["Close"].iloc[first[0] - 1])


@pytest.mark.parametrize("trade_on_close", [False, True])
def test_a_zero_price_fills_at_the_last_close_as_backtesting_py(ours, ref, trade_on_close):
    """backtesting.py opens a trade at ``price or last_price`` (its
    _adjusted_price): a bar whose fill price is 0 (bad data) enters at that
    bar's close, while the commission is still on the raw price."""
    df = data("goog").iloc[:400].copy()
    df.loc[df.index[5::6], "Open"] = 0.0      # every 6th bar opens at 0
    stats, _ = compare(ours, ref, make_multi_order, df,
                       {"cash": 10_000, "commission": 0.002, "trade_on_close": trade_on_close})
    entries = stats["_trades"]["EntryBar"].to_numpy()
    if not trade_on_close:
        assert np.isin(entries, np.arange(5, 400, 6)).any()   # some fills met a zero price


@pytest.mark.parametrize("impl", ALL_IMPLS)
def test_position_core_reads_the_broker_as_the_twin(impl):
    """``Position``'s core (compiled, and the twin it is checked against):
    its truth value and numbers are the broker's expressions, on whatever
    the broker holds now; a broker a strategy broke (its bar cell emptied,
    a size that is no number) raises, never reads past an end."""
    from admf_perf._ext import _strategy_py

    core = _strategy_py
    if impl == "compiled":
        from admf_perf import _ext

        core = _ext.load("_strategy")
        if not _ext.COMPILED["_strategy"]:
            pytest.skip("the compiled _strategy module is not loaded")
    b = types.SimpleNamespace(_pos_size=0, _pos_cost=0, _pos_value=0, _close_list=[10.0, 11.5], _bar=[1])
    p = core.PositionCore(b)
    assert (bool(p), p.size, p.pl, p.pl_pct, p.is_long, p.is_short) == (False, 0, 0.0, 0, False, False)
    b._pos_size, b._pos_cost, b._pos_value = 3, 31.0, 31.0
    assert (bool(p), p.size, p.is_long, p.is_short) == (True, 3, True, False)
    assert p.pl == 11.5 * 3 - 31.0 and p.pl_pct == ((11.5 * 3 - 31.0) / 31.0) * 100
    b._pos_size, b._pos_cost, b._pos_value, b._bar = -2, -21.0, 21.0, [0]
    assert (bool(p), p.size, p.is_long, p.is_short) == (True, -2, False, True)
    assert p.pl == 10.0 * -2 + 21.0 and p.pl_pct == ((10.0 * -2 + 21.0) / 21.0) * 100
    assert p._broker is b
    b._bar = []
    with pytest.raises(IndexError):
        p.pl  # noqa: B018
    b._bar = [-1]
    assert p.pl == 11.5 * -2 + 21.0                  # Python's indexing, as the twin's
    b._pos_size = None
    with pytest.raises(TypeError):
        p.is_long  # noqa: B018
    del b._pos_size
    with pytest.raises(AttributeError):
        bool(p)


def _core_module(impl):
    from admf_perf._ext import _strategy_py

    if impl == "python":
        return _strategy_py
    from admf_perf import _ext

    if not _ext.COMPILED["_strategy"]:
        pytest.skip("the compiled _strategy module is not loaded")
    return _ext.load("_strategy")


@pytest.mark.parametrize("impl", ALL_IMPLS)
def test_broker_core_makes_only_its_own_orders_and_trades(impl):
    """The broker's core makes orders and trades of the classes it is
    given, which must be its own cores' subclasses (the compiled one fills
    their fields in C): anything else is a TypeError naming them."""
    core = _core_module(impl)
    Order = type("Order", (core.OrderCore,), {})
    Trade = type("Trade", (core.TradeCore,), {})
    for order_type, trade_type in ((object, Trade), (Order, object), (Order, 3), ("x", Trade)):
        with pytest.raises(TypeError, match="order_type and trade_type"):
            core.BrokerCore([1.0], [1.0], None, 100.0, 0.0, False, False, order_type, trade_type)
    b = core.BrokerCore([10.0, 11.0], [10.0, 12.0], None, 100.0, core.CommissionCore(1.0, 0.01), False, False,
                        Order, Trade)
    o = b.new_order(3, "t")
    assert type(o) is Order and (o._size, o._tag, o._parent_trade, o._broker) == (3.0, "t", None, b)
    b._bar[0] = 1
    b._process_orders()
    (t,) = b.trades
    assert type(t) is Trade and (t._size, t._entry_price, t._entry_bar, t._tag) == (3, 12.0, 1, "t")
    assert b._cash == 100.0 - (1.0 + 3 * 12.0 * 0.01)
    assert (b._pos_size, b._pos_cost, b._pos_value) == (3, 36.0, 36.0)
    t.close(0.5)                                         # 2 of 3 units (backtesting.py's rounding)
    (o,) = b.orders
    assert type(o) is Order and o._size == -2.0 and o._parent_trade is t
    b._process_orders()
    (closed,) = b.closed_trades
    assert type(closed) is Trade and closed._size == 2.0 and t._size == 1.0 and b.trades == [t]
    assert closed.pl == 2.0 * (12.0 - 12.0) - closed._commissions

    class Flat(core.CommissionCore):                     # a subclass's own fee is the one charged
        def __call__(self, order_size, price):
            return 5.0

    b = core.BrokerCore([10.0, 11.0], [10.0, 12.0], None, 100.0, Flat(1.0, 0.01), False, False, Order, Trade)
    b.new_order(3, None)
    b._bar[0] = 1
    b._process_orders()
    assert b._cash == 95.0 and type(b.new_order(2, None)._size) is float


@pytest.mark.parametrize("impl", ALL_IMPLS)
def test_a_broken_broker_raises_and_never_crashes(impl):
    """What a strategy or a commission callback can do to the broker's lists
    (something else than an order or a trade in them, a list emptied during a
    fill) raises an error, on the compiled core as on its twin: never a crash,
    never a read past an end."""
    core = _core_module(impl)
    Order = type("Order", (core.OrderCore,), {})
    Trade = type("Trade", (core.TradeCore,), {})

    def broker(fee=None):
        fee = core.CommissionCore(0.0, 0.0) if fee is None else fee
        return core.BrokerCore([10.0, 11.0, 12.0], [10.0, 12.0, 13.0], None, 100.0, fee, False, False, Order, Trade)

    b = broker()
    b.new_order(1, None)
    b.orders.append("junk")
    b._bar[0] = 1
    with pytest.raises(TypeError, match="the broker's orders hold a str, not an order"):
        b._process_orders()
    b = broker()
    b.new_order(1, None)
    b._bar[0] = 1
    b._process_orders()
    b.trades.append(None)
    b.new_order(-2, None)
    with pytest.raises(TypeError, match="the broker's trades hold a NoneType, not a trade"):
        b._process_orders()
    b = broker()
    b._bar = []
    with pytest.raises(IndexError):
        b._margin_available()
    with pytest.raises(IndexError):
        b._process_orders()

    def emptied(core):
        """A commission that empties the open trades at every fee: the
        broker goes on with what is left, as the twin does."""
        Order = type("Order", (core.OrderCore,), {})
        Trade = type("Trade", (core.TradeCore,), {})

        def emptying(size, price):
            b.trades.clear()
            return 0.5

        b = core.BrokerCore([10.0, 11.0, 12.0, 9.0], [10.0, 12.0, 13.0, 8.0], None, 100.0, emptying, False, False,
                            Order, Trade)
        seen = []
        for i, size in ((1, 2), (2, -1), (3, 0.5)):
            b.new_order(size, None)
            b._bar[0] = i
            b._process_orders()
            seen.append((len(b.trades), len(b.closed_trades), len(b.orders), b._cash, b._pos_size, b._pos_cost))
        return seen

    from admf_perf._ext import _strategy_py

    assert emptied(core) == emptied(_strategy_py)


def test_a_runs_broker_pickles_with_its_orders_and_trades(ours):
    """A run's strategy (``stats._strategy``) pickles with its broker: the
    open and closed trades, the pending orders, the position, the cash, each
    object once (the broker they point back to is the one restored)."""
    import pickle

    class Busy(ours.Strategy):
        def init(self):
            pass

        def next(self):
            k = len(self.data) % 7
            if k == 1:
                self.buy(size=3, tag="a")
            elif k == 3:
                self.sell(size=0.2)
            elif k == 5:
                self.position.close(0.5)
            if len(self.data) == len(self.data.df):
                self.buy(size=2, tag="last")

    Busy.__module__, Busy.__qualname__ = __name__, "PicklableBusy"
    globals()["PicklableBusy"] = Busy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")             # trades left open
        stats = ours.Backtest(data("goog").iloc[:80], Busy, commission=(1.0, 0.001)).run()
    s = stats._strategy
    copy = pickle.loads(pickle.dumps(s))
    b, c = s._broker, copy._broker
    fields = ("_size", "_entry_price", "_exit_price", "_entry_bar", "_exit_bar", "_tag", "_commissions")
    for mine, theirs in ((b.trades, c.trades), (b.closed_trades, c.closed_trades)):
        assert [[getattr(t, f) for f in fields] for t in mine] == [[getattr(t, f) for f in fields] for t in theirs]
        assert all(t._broker is c and type(t) is type(u) for t, u in zip(theirs, mine, strict=True))
    assert [(o._size, o._tag) for o in c.orders] == [(o._size, o._tag) for o in b.orders] != []
    assert all(o._broker is c for o in c.orders) and c.position._broker is c and copy.position is c.position
    assert (c._cash, c._pos_size, c._pos_cost, c._pos_value) == (b._cash, b._pos_size, b._pos_cost, b._pos_value)
    assert b.trades and b.closed_trades and c._commission(2, 10.0) == b._commission(2, 10.0) == 1.02


def test_a_search_hides_older_objects_from_the_collector_until_it_ends(ours):
    """``optimize`` freezes the objects alive when it starts (``gc.freeze``)
    and unfreezes them when it ends, also on an error; it leaves alone a
    caller's own frozen objects and a disabled collector."""
    import gc

    seen = []

    class Watch(ours.Strategy):
        n = 1

        def init(self):
            pass

        def next(self):
            seen.append(gc.get_freeze_count())
            if self.n == 3:
                raise RuntimeError("a strategy's error")
            if len(self.data) % 5 == 0:
                self.buy(size=1)
            elif self.position:
                self.position.close()

    bt = ours.Backtest(data("goog").iloc[:60], Watch)
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    bt.optimize(n=[1, 2], maximize="Equity Final [$]")
    assert min(seen) == 0 < max(seen) and gc.get_freeze_count() == 0   # the best's rerun is after the search
    with pytest.raises(RuntimeError, match="a strategy's error"):
        bt.optimize(n=[1, 3], maximize="Equity Final [$]")
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        bt.optimize(n=[1, 2], maximize="Equity Final [$]")
        assert 0 < gc.get_freeze_count() <= frozen     # still frozen (less what died meanwhile)
    finally:
        gc.unfreeze()
    seen.clear()
    gc.disable()
    try:
        bt.optimize(n=[1, 2], maximize="Equity Final [$]")
    finally:
        gc.enable()
    assert set(seen) == {0}


def test_searches_running_at_once_share_one_freeze():
    """Searches in threads (``optimize --strategy --threads``) enter and
    leave the freeze in any order: the objects stay frozen until the last
    one running leaves, then are unfrozen once."""
    import gc

    from admf_perf.research._grid import _old_objects_frozen

    first, second = _old_objects_frozen(), _old_objects_frozen()
    assert gc.get_freeze_count() == 0
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_freeze_count() > 0                # the second search still runs
    third = _old_objects_frozen()
    third.__enter__()
    second.__exit__(None, None, None)
    assert gc.get_freeze_count() > 0
    third.__exit__(None, None, None)
    assert gc.get_freeze_count() == 0


def test_a_cancelled_order_warns_at_the_line_that_ran_the_backtest(ours):
    """The broker's warning for an order it cancels (insufficient margin)
    points at the line that called ``Backtest.run``, on both engines."""
    class Greedy(ours.Strategy):
        def init(self):
            pass

        def next(self):
            self.buy(size=10**7)

    bt = ours.Backtest(data("goog").iloc[:30], Greedy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bt.run()
    cancelled = [w for w in caught if "insufficient margin" in str(w.message)]
    assert cancelled and {(w.filename, w.category) for w in cancelled} == {(__file__, UserWarning)}


@pytest.mark.parametrize("name", ["goog", "btcusd"])
def test_position_sums_are_recomputed_exactly_every_bar(ours, name):
    """The broker's position (size, cost, value: kept from the open trades
    when they change) equals, bit for bit, backtesting.py's sums over
    ``self.trades`` recomputed every bar: sum() of generators from int 0,
    whose terms are numpy float64 there (its prices are), which sum() adds
    left to right on every Python (3.12's compensated sum is for exact
    floats). Up to a dozen trades open, long and short, partly closed."""
    seen = []
    f64 = np.float64

    class Many(ours.Strategy):
        def init(self):
            pass

        def next(self):
            b, trades = self._broker, self.trades
            seen.append(len(trades))
            assert b._pos_size == sum(int(t.size) for t in trades)
            assert b._pos_cost == sum(t.size * f64(t.entry_price) for t in trades)
            assert b._pos_value == sum(abs(t.size) * f64(t.entry_price) for t in trades)
            last = f64(self.data.Close[-1])
            used = sum(abs(t.size) * last / 1.0 for t in trades)
            assert b._margin_available() == max(0, b._cash + (last * b._pos_size - b._pos_cost) - used)
            k = len(self.data) % 29
            if k in (1, 2, 3, 5, 8, 13):
                self.buy(size=0.07 if k % 2 else 1)
            elif k in (17, 19, 21):
                self.sell(size=0.11 if k == 19 else 2)
            elif k == 23:
                self.trades[0].close(0.5) if self.trades else None
            elif k == 27:
                self.position.close(0.4)
            elif k == 0:
                self.position.close()

    ours.Backtest(data(name).iloc[:800], Many, cash=CASH[name], commission=0.001).run()
    assert max(seen) >= 6 and seen.count(0) > 0


def test_iterating_a_revealed_array_gives_what_ndarrays_iteration_gives(ours):
    """``_Array.__iter__`` (the core's ``array_iter``: a short 2-D array's rows
    from a list, no IndexError at the end) gives ndarray's own items: same
    type, values, memory and name; 1-D, long and 0-d arrays as before."""
    from admf_perf.research import _revealed as r

    assert r._Array.__dict__["__iter__"] is r._core.array_iter
    rows_max = r._core.ROWS_MAX
    rng = np.random.default_rng(3)
    whole = r._Indicator(rng.random((2, 50)), name="bb")
    cases = [
        whole, whole[:, :10], whole[:, :0], whole[:, ::-3], whole[::-1],
        r._Indicator(np.asfortranarray(rng.random((3, 7))), name="f"),
        r._Indicator(rng.random((3, 2, 5)), name="3d"),
        r._Indicator(rng.random((rows_max, 4)), name="at the limit"),
        r._Indicator(rng.random((rows_max + 1, 4)), name="over it"),
        r._Indicator(rng.random((0, 4)), name="no rows"),
        r._Indicator(rng.random(6), name="1-D"), whole[0],
        r._Array(rng.random((2, 5)), name="data"),
    ]
    for a in cases:
        got, want = list(a), list(np.ndarray.__iter__(a))
        assert len(got) == len(want) == len(a)
        for g, w in zip(got, want, strict=True):
            assert type(g) is type(w)
            if isinstance(w, np.ndarray):
                assert g.shape == w.shape and g.strides == w.strides
                assert np.array_equal(g, w) and np.shares_memory(g, a) == np.shares_memory(w, a)
                assert g.name == a.name
            else:
                assert g == w
    upper, lower = whole[:, :10]
    assert np.array_equal(upper, whole[0, :10]) and np.array_equal(lower, whole[1, :10])
    with pytest.raises(ValueError, match="unpack"):
        upper, middle, lower = whole
    with pytest.raises(TypeError, match="0-d"):
        iter(r._Indicator(np.float64(1.5), name="scalar"))


def test_every_bars_view_stays_as_it_was_shown(ours):
    """Each bar shows an indicator as a view of its first bars. A view the
    strategy keeps (a list, a weak reference, an attribute set on it, new
    flags) still shows the bars it showed then; one it drops may be reused by
    the compiled loop for the next bar (docs/internals.md), invisibly: the
    values, names and lengths seen are the twin's."""
    import weakref

    class S(ours.Strategy):
        def init(self):
            close = np.asarray(self.data.Close)
            self.a = self.I(lambda x: x * 2.0, close, name="twice")
            self.b = self.I(lambda x: np.vstack([x, -x]), close)
            self.kept, self.refs, self.seen = [], [], []

        def next(self):
            n = len(self.data)
            fresh = [v.base[..., :n] for v in (self.a, self.b)]   # numpy's own view, its flags
            self.seen.append((len(self.a), self.b.shape, float(self.a[-1]), self.a.name,
                              getattr(self.a, "note", None), self.a.flags.writeable,
                              [(v.flags.c_contiguous, v.flags.f_contiguous, v.strides) for v in (self.a, self.b)]
                              == [(f.flags.c_contiguous, f.flags.f_contiguous, f.strides) for f in fresh]))
            if n % 3 == 0:
                self.kept.append((n, self.a, self.b))
            elif n % 3 == 1:
                self.refs.append((n, weakref.ref(self.a), np.asarray(self.a).copy()))
                self.a.note = n                        # an attribute of this bar's view only
            elif n % 5 == 0:
                self.a.setflags(write=False)

    df = data("goog").iloc[:40]
    close = df.Close.to_numpy()
    strategy = ours.Backtest(df, S).run()._strategy
    writeable = bool(np.asarray(strategy.a).base.flags.writeable)
    assert strategy.seen == [(n, (2, n), 2.0 * close[n - 1], "twice", None, writeable, True) for n in range(2, 41)]
    for n, a, b in strategy.kept:
        np.testing.assert_array_equal(a, 2.0 * close[:n])
        np.testing.assert_array_equal(b, np.vstack([close[:n], -close[:n]]))
    for n, ref, values in strategy.refs:
        a = ref()
        assert a is None or (len(a) == n and a.note == n)
        np.testing.assert_array_equal(values, 2.0 * close[:n])
    assert len(strategy.a) == 40 and strategy.a.note == 40


def test_indicators_are_found_whatever_their_attribute(ours, ref):
    """Every attribute holding an indicator is revealed bar by bar, as
    backtesting.py reads them from ``__dict__``: a name stored by the class's
    code, one made at run time (``setattr``), one indicator under two names,
    a class attribute's name, after ``init`` read ``vars(self)``. The engine
    finds them without reading the instance's ``__dict__`` when it can (that
    would slow every ``self.x`` of ``next()`` on CPython 3.11 and 3.12): the
    strategy's attribute values stay its own referents."""
    import gc

    def factory(Strategy, crossover, dynamic, read_vars):
        class S(Strategy):
            b = None                                    # a class attribute's name

            def init(self):
                close = np.asarray(self.data.Close)
                self.a = self.I(lambda x: x + 1.0, close)
                self.b = self.I(lambda x: x + 2.0, close)
                self.alias = self.a
                if dynamic:
                    setattr(self, "dyn_" + "c", self.I(lambda x: x + 3.0, close))
                if read_vars:
                    vars(self)
                self.seen = []

            def next(self):
                row = [len(self.a), len(self.b), len(self.alias)]
                if dynamic:
                    row.append(len(self.dyn_c))
                self.seen.append(row)
        return S

    df = data("goog").iloc[:30]
    for dynamic in (False, True):
        for read_vars in (False, True):
            seen = []
            for engine in (ours, ref):
                cls = factory(engine.Strategy, engine.crossover, dynamic, read_vars)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    strategy = engine.Backtest(df, cls).run()._strategy
                seen.append(strategy.seen)
                if engine is ours and not (dynamic or read_vars):
                    held = [r for r in gc.get_referents(strategy) if isinstance(r, np.ndarray)]
                    assert len(held) == 3, "the instance's __dict__ was read"
            assert seen[0] == seen[1] == [[n] * (3 + dynamic) for n in range(2, 31)]


@pytest.mark.parametrize("cash", [10_000, 10_000.5, np.float64(10_000.25), 2**60],
                         ids=["int", "float", "numpy", "huge"])
def test_cash_of_any_number_type_gives_backtesting_pys_equity(ours, ref, cash):
    """The equity of each bar is Python's ``cash + (close * size - cost)``
    whatever the types: the compiled loop computes it in C for exact floats
    and ints, and with Python's operators for anything else (a numpy float),
    the same doubles either way."""
    compare(ours, ref, make_sma_cross, data("goog").iloc[:400], {"cash": cash, "commission": 0.001})


_FACTORY_CALLS: list[float] = []


def _scaled(k):
    def f(x):
        _FACTORY_CALLS.append(k)
        return np.asarray(x) * k
    return f


def test_functions_made_anew_each_run_are_cached_by_what_they_compute(ours):
    """A function ``init`` defines (or a factory makes) is a new object every
    run: the cache names it by its code and the values it closes over, so the
    next run finds the series; one closing over the strategy itself, or over
    a value that cannot name itself, is computed every run."""
    del _FACTORY_CALLS[:]

    class S(ours.Strategy):
        k = 2.0

        def init(self):
            k = self.k
            self.a = self.I(_scaled(k), self.data.Close)                # a factory's closure over k
            self.b = self.I(lambda x: np.asarray(x) + k, self.data.Close)   # init's own
            self.c = self.I(lambda x: np.asarray(x) * self.k, self.data.Close)  # closes over self

        def next(self):
            pass

    df = data("goog").iloc[:50]
    close = df.Close.to_numpy()
    bt = ours.Backtest(df, S)
    first = bt.run()._strategy
    second = bt.run()._strategy
    third = bt.run(k=3.0)._strategy
    st = bt.indicator_cache_stats
    assert (st["hits"], st["misses"], st["uncached"]) == (2, 4, 3)   # c: every run
    assert _FACTORY_CALLS == [2.0, 3.0]
    for s, k in ((first, 2.0), (second, 2.0), (third, 3.0)):
        np.testing.assert_array_equal(s.a, close * k)
        np.testing.assert_array_equal(s.b, close + k)
        np.testing.assert_array_equal(s.c, close * k)


def test_the_toolkits_indicators_in_self_I_are_cached(ours):
    """``self.I(SMA(n).batch, self.data.Close)``: a new indicator each run,
    found in the cache by its class and arguments; one that consumed a bar
    (its batch continues its state) and a bound method of any other object
    are computed every time (uncached)."""
    import admf_perf as ap

    used = ap.SMA(5)
    used.update(100.0)

    class Helper:
        def double(self, x):
            return 2 * np.asarray(x)

    helper = Helper()

    class S(ours.Strategy):
        n = 10

        def init(self):
            self.a = self.I(ap.SMA(self.n).batch, self.data.Close)
            self.m = self.I(ap.MACD().batch, self.data.Close)
            self.u = self.I(used.batch, self.data.Close)
            self.h = self.I(helper.double, self.data.Close)

        def next(self):
            if ours.crossover(self.data.Close, self.a):
                self.buy()
            elif ours.crossover(self.a, self.data.Close):
                self.position.close()

    df = data("goog").iloc[:300]
    bt = ours.Backtest(df, S, finalize_trades=True)
    first = bt.run()
    assert bt.indicator_cache_stats["misses"] == 2 and bt.indicator_cache_stats["uncached"] == 2
    second = bt.run()
    third = bt.run(n=20)
    stats = bt.indicator_cache_stats
    assert (stats["hits"], stats["misses"], stats["uncached"]) == (3, 3, 6)
    close = df.Close.to_numpy()
    np.testing.assert_array_equal(np.asarray(second._strategy.a), ap.SMA(10).batch(close))
    np.testing.assert_array_equal(np.asarray(third._strategy.a), ap.SMA(20).batch(close))
    np.testing.assert_array_equal(np.asarray(first._strategy.m), np.asarray(second._strategy.m))
    assert first["# Trades"] == second["# Trades"]


@pytest.mark.parametrize("maximize", ["omega_ratio", "alpha", "conditional_value_at_risk"])
def test_optimize_by_a_risk_metric(ours, ref, serial_ref_pool, maximize):
    """``maximize=`` a risk-calculator metric: each run's score is empyrical's
    function on backtesting.py's equity curve of the same parameters, per bar
    (benchmark: the Close), and the best run is the heatmap's argmax."""
    from conftest import empyrical_curve_metric

    df = data("goog").iloc[:1200]
    stats_o, heat_o = _optimize(ours, make_sma_cross, df, n1=[5, 10, 15], n2=[20, 30], maximize=maximize,
                                return_heatmap=True)
    assert heat_o.name == maximize and len(heat_o) == 6
    close = df["Close"].to_numpy(dtype=float)
    cls = make_sma_cross(ref.Strategy, ref.crossover)
    for (n1, n2), got in heat_o.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            eq = ref.Backtest(df, cls).run(n1=n1, n2=n2)["_equity_curve"]["Equity"].to_numpy()
        want = empyrical_curve_metric(maximize, eq[1:] / eq[:-1] - 1.0, close[1:] / close[:-1] - 1.0)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-15), (n1, n2)
    best = heat_o.idxmax()
    assert (stats_o._strategy.n1, stats_o._strategy.n2) == best
    with pytest.raises(ValueError, match="omega_ratio"):
        _optimize(ours, make_sma_cross, df, n1=[5], n2=[20], maximize="omega")


@pytest.mark.parametrize("values", [
    [np.nan, np.nan, 3.0, 4.0, 5.0],            # NaNs lead (the bars before the first next)
    [np.nan, 2.0, np.nan, 4.0, np.nan],         # anywhere, and last
    [np.nan, np.nan],                           # none valid: the cash
    [1.0, 2.0, 3.0],                            # none
    [-0.0, np.nan, -1.5],
])
def test_equity_back_fill_is_pandas(values):
    """The equity curve's fill (each NaN takes the next value, the cash after
    the last) is pandas' ``bfill().fillna(cash)``, bit for bit."""
    from admf_perf.research._stats import _bfill

    eq = np.array(values)
    before = eq.copy()
    got = _bfill(eq, 10_000.0)
    want = pd.Series(values).bfill().fillna(10_000.0).to_numpy()
    assert got.tobytes() == want.tobytes()
    assert eq.tobytes() == before.tobytes()      # the input is not changed


def test_compiled_loop_grows_an_unheld_view_in_place(ours):
    """With the CPython internals on (docs/internals.md), a view nothing but
    the attribute holds is grown in place: one object for every bar, not a
    new view each (the saving the loop is for; a held one is never touched,
    test_every_bars_view_stays_as_it_was_shown)."""
    from admf_perf.research import _revealed

    if ours.name != "admf_perf" or not _revealed._core._internals_in_use()["view_regrow"]:
        pytest.skip("the twin, or the internals off: a new view every bar")

    class S(ours.Strategy):
        def init(self):
            self.a = self.I(lambda x: np.asarray(x) * 1.0, self.data.Close)
            self.ids = []

        def next(self):
            self.ids.append(id(self.a))

    strategy = ours.Backtest(data("goog").iloc[:50], S).run()._strategy
    assert len(strategy.ids) == 49 and len(set(strategy.ids[1:])) == 1


def test_data_columns_read_each_bar_are_the_bars_shown_and_kept_ones_never_change(ours):
    """self.data.Close (any column, and data["High"]) is the bars up to the
    current one every bar. A column view the strategy keeps (a list, an
    attribute set on it, a later numpy view of it) still shows the bars it
    showed then; one it does not keep is grown in place by the compiled loop
    with the internals on (one object for every bar), invisibly."""
    from admf_perf.research import _revealed

    class S(ours.Strategy):
        def init(self):
            self.seen, self.kept, self.ids = [], [], []

        def next(self):
            n = len(self.data)
            pre = self.data._cache.get("Close")     # last bar's view, if the loop grew it
            self.ids.append(None if pre is None else (len(pre), self.data.Close is pre))
            del pre
            close, high = self.data.Close, self.data["High"]
            self.seen.append((len(close), float(close[-1]), len(high), float(high[-1]), close.name))
            if n % 4 == 0:
                self.kept.append((n, close))
            elif n % 4 == 1:
                self.kept.append((n, close[1:]))
            elif n % 7 == 0:
                close.note = n
                self.kept.append((n, close))

    df = data("goog").iloc[:60]
    c, h = df.Close.to_numpy(), df.High.to_numpy()
    strategy = ours.Backtest(df, S).run()._strategy
    assert strategy.seen == [(n, c[n - 1], n, h[n - 1], "Close") for n in range(2, 61)]
    for n, kept in strategy.kept:
        want = c[1:n] if n % 4 == 1 else c[:n]
        np.testing.assert_array_equal(np.asarray(kept), want)
        if n % 4 not in (0, 1):
            assert kept.note == n
    if ours.name == "admf_perf" and _revealed._core._internals_in_use()["view_regrow"]:
        # after a bar that kept nothing, the cache holds that bar's view grown to this one
        grown = [n for n, pre in zip(range(2, 61), strategy.ids, strict=True) if pre is not None]
        held = [m for m in range(2, 60) if m % 4 == 0 or (m % 4 > 1 and m % 7 == 0)]   # close[1:] is not
        assert grown == [n for n in range(3, 61) if n - 1 not in held]
        assert all(pre == (n, True) for n, pre in zip(range(2, 61), strategy.ids, strict=True) if pre is not None)


@pytest.mark.parametrize("options", ["default", "commission"])
def test_a_grid_run_scored_by_one_key_computes_it_as_the_full_statistics(ours, options):
    """``Backtest.optimize`` scores a run by one key and computes only that
    one when it is cheap (the trades' statistics, the final equity and
    return, a risk metric of the curve): each equals the full statistics'
    value, bit for bit."""
    from admf_perf.research._stats import _CHEAP

    cls = make_sma_cross(ours.Strategy, ours.crossover)
    bt = ours.Backtest(data("goog").iloc[:800], cls, cash=10_000, **OPTIONS[options])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = bt._run({}, frames=False)
        assert full["# Trades"] > 5
        keys = sorted(k for k in _CHEAP if k in full)       # (a curve metric is scored on _equity)
        assert len(keys) >= 12
        for key in keys:
            got = bt._run({}, frames=False, only=key)[key]
            assert np.asarray(got).tobytes() == np.asarray(full[key]).tobytes(), key


def test_bar_loop_writes_the_bar_cells_and_refuses_bad_ones(ours):
    """The bar loop writes the revealed length and the broker's bar into
    one-item lists (no attribute set per bar): what the strategy reads
    through them (``len(self.data)``, the columns, ``self.equity`` at the
    bar's close) follows every bar, and after the run the data is whole. A
    cell that is not a one-item list is refused with a TypeError naming it."""
    from admf_perf.research import _revealed

    class S(ours.Strategy):
        def init(self):
            self.seen = []

        def next(self):
            if not self.position:
                self.buy(size=1)
            self.seen.append((len(self.data), float(self.data.Close[-1]), self.equity))

    df = data("goog").iloc[:30]
    close = df.Close.to_numpy()
    stats = ours.Backtest(df, S, cash=10_000, finalize_trades=True).run()
    strategy = stats._strategy
    assert [s[:2] for s in strategy.seen] == [(n, close[n - 1]) for n in range(2, 31)]
    entry = stats._trades.EntryPrice.iloc[0]
    assert strategy.seen[0][2] == 10_000
    assert all(eq == pytest.approx(10_000 + (close[n - 1] - entry), rel=1e-12)
               for n, _, eq in strategy.seen[1:])
    assert len(strategy.data) == 30

    core = _revealed._core
    for owner, attr in (("data", "_shown"), ("broker", "_bar")):
        d, b = types.SimpleNamespace(_cache={}, _shown=[0]), types.SimpleNamespace(orders=[], _bar=[0])
        setattr(d if owner == "data" else b, attr, (0,))
        with pytest.raises(TypeError, match=attr):
            core.run_bars(S, d, b, [], [], 0, 0, np.zeros(0), [])
