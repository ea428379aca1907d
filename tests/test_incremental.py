"""IncrementalCalculator, MovingAverageCalculator and the cached indicator layer,
against naive recomputation. Both implementations."""
import gc
import weakref

import numpy as np
import pandas as pd
import pytest


def naive_sma(x, window):
    out = np.full(len(x), np.nan)
    for i in range(window - 1, len(x)):
        out[i] = np.mean(x[i - window + 1:i + 1])
    return out


@pytest.fixture
def prices():
    rng = np.random.default_rng(7)
    return 100 + np.cumsum(rng.normal(size=600))


# -- IncrementalCalculator ------------------------------------------------------------

def test_base_hooks_choose_the_path(ap):
    class Total(ap.incremental.IncrementalCalculator):
        def _can_update_incrementally(self, xs):
            return len(xs) >= self._n

        def _update_incrementally(self, xs):
            added = sum(xs[self._n:])
            self._n = len(xs)
            return self.result + added

        def _calculate_full(self, xs):
            self._n = len(xs)
            return sum(xs)

    t = Total()
    xs = [1, 2, 3]
    assert t.calculate(xs) == 6                    # nothing to extend: full
    assert t.calculate(xs + [4]) == 10             # extends: incremental
    assert t.calculate([5]) == 5                   # shorter: _can_update says no
    assert t.stats() == {"full_calculations": 2, "incremental_updates": 1}
    t.reset()
    assert t.result is None
    assert t.calculate([1, 1]) == 2
    assert ap.CacheManager.get_instance().get(t.name) is t


def test_base_hooks_are_abstract(ap):
    calc = ap.incremental.IncrementalCalculator()
    with pytest.raises(NotImplementedError):
        calc.calculate(1)


# -- MovingAverageCalculator ----------------------------------------------------------

def test_moving_average_matches_recomputation_while_growing(ap, prices):
    calc = ap.incremental.MovingAverageCalculator(20)
    for n in [1, 5, 19, 20, 21, 100, 100, 350, 600]:
        got = calc.calculate(prices[:n])
        np.testing.assert_allclose(got, naive_sma(prices[:n], 20), rtol=1e-12, equal_nan=True)
    assert calc.full_calculations == 1
    assert calc.incremental_updates == 8


def test_moving_average_recomputes_a_different_series(ap, prices):
    calc = ap.incremental.MovingAverageCalculator(10)
    first = calc.calculate(prices[:200])
    kept = first.copy()
    other = prices[:200] * 2
    got = calc.calculate(other)
    np.testing.assert_allclose(got, naive_sma(other, 10), rtol=1e-12, equal_nan=True)
    assert calc.full_calculations == 2
    np.testing.assert_array_equal(first, kept)    # results handed out never change
    assert not got.flags.writeable


def test_moving_average_accepts_series_and_lists(ap, prices):
    calc = ap.incremental.MovingAverageCalculator(5)
    s = pd.Series(prices[:50])
    np.testing.assert_allclose(calc.calculate(s), naive_sma(prices[:50], 5), rtol=1e-12,
                               equal_nan=True)
    np.testing.assert_allclose(calc.calculate(list(prices[:60])), naive_sma(prices[:60], 5),
                               rtol=1e-12, equal_nan=True)
    assert calc.incremental_updates == 1


def test_moving_average_rejects_bad_window(ap):
    with pytest.raises((ValueError, TypeError), match="period|window"):
        ap.incremental.MovingAverageCalculator(0)


# -- cached indicators ------------------------------------------------------------------

def _bars(n, seed=0):
    rng = np.random.default_rng(seed)
    close = 100 + np.cumsum(rng.normal(size=n))
    index = pd.date_range("2020-01-01", periods=n, freq="D")
    return pd.Series(close, index=index, name="close")


def test_cached_indicator_serves_same_bars_and_params(ap):
    ind = ap.incremental
    rsi = ind.CachedIndicator(ind.RSI, period=14)
    bars = _bars(300)
    a = rsi(bars)
    b = rsi(bars.copy())
    assert a is b                                  # same bars, same parameters
    np.testing.assert_array_equal(a, ind.RSI(14).batch(bars.to_numpy()))
    assert not a.flags.writeable
    c = rsi(bars, period=21)                       # another parameter: computed
    np.testing.assert_array_equal(c, ind.RSI(21).batch(bars.to_numpy()))
    longer = _bars(301)                            # a new bar: never stale
    d = rsi(longer)
    assert len(d) == 301
    stats = rsi.cache_info()
    assert (stats.hits, stats.misses) == (1, 3)


def test_cached_moving_average(ap):
    bars = _bars(100)
    sma = ap.incremental.CachedMovingAverage(10)
    np.testing.assert_allclose(sma(bars), naive_sma(bars.to_numpy(), 10), rtol=1e-12,
                               equal_nan=True)
    with pytest.raises(ValueError, match="kind"):
        ap.incremental.CachedMovingAverage(10, kind="hma")


def test_cached_indicator_function(ap):
    calls = []

    @ap.incremental.cached_indicator
    def spread(bars, lag=1):
        calls.append(lag)
        return (bars - bars.shift(lag)).to_numpy()

    bars = _bars(50)
    spread(bars)
    spread(bars.copy())                            # equal bars: a hit
    assert calls == [1]
    spread(bars, lag=1)                            # keyed by the arguments as given,
    spread(bars, 1)                                # as functools does
    assert calls == [1, 1, 1]
    spread(bars, lag=1)
    spread(bars, lag=2)
    spread(_bars(51))                              # a new bar
    assert calls == [1, 1, 1, 2, 1]


def test_cached_signal_keys_on_parameters_and_last_bar(ap):
    calls = []

    class Cross:
        def __init__(self, fast, slow):
            self.fast, self.slow = fast, slow

        @ap.incremental.cached_signal
        def signal(self, bars):
            calls.append((self.fast, self.slow, len(bars)))
            c = bars.to_numpy()
            return float(c[-self.fast:].mean() - c[-self.slow:].mean())

    bars = _bars(60)
    a, b = Cross(5, 20), Cross(5, 20)
    assert a.signal(bars) == b.signal(bars)        # equal parameters share the result
    assert len(calls) == 1
    a.slow = 30                                    # a changed parameter: recomputed
    a.signal(bars)
    a.signal(_bars(61))                            # a new bar: recomputed
    assert len(calls) == 3
    ref = weakref.ref(b)
    del b
    gc.collect()
    assert ref() is None                           # the cache does not keep strategies
