"""IncrementalPositionTracker against a naive full recomputation.

The reference replays the whole event list from scratch after every event,
keeping a cost basis (quantity * average price) instead of an average price,
and sums over symbols for the totals; the tracker keeps running totals.
"""
from __future__ import annotations

import math
import random
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import examples

NAN = math.nan


@pytest.fixture
def pf(ap):
    """The portfolio module of the package under test."""
    return ap.portfolio




# -- reference ----------------------------------------------------------------------------

def naive(events, initial_cash=0.0, flat_tol=1e-12):
    """Positions and totals of ``events`` (("fill", sym, q, p, c) or
    ("price", sym, p)), recomputed from scratch."""
    qty, cost, realized, last = {}, {}, {}, {}
    cash = initial_cash
    for ev in events:
        if ev[0] == "price":
            _, sym, p = ev
            last[sym] = p
            qty.setdefault(sym, 0.0)
            cost.setdefault(sym, 0.0)
            realized.setdefault(sym, 0.0)
            continue
        _, sym, q, p, c = ev
        Q, C = qty.get(sym, 0.0), cost.get(sym, 0.0)
        R = realized.get(sym, 0.0)
        cash -= q * p + c
        newQ = Q + q
        if Q == 0 or (Q > 0) == (q > 0):
            C += q * p
        elif abs(q) <= abs(Q):
            closed = -q  # with the sign of the position
            basis = C * (closed / Q)
            R += closed * p - basis
            C -= basis
        else:
            R += Q * p - C
            C = newQ * p
        if abs(newQ) <= flat_tol * max(abs(Q), abs(q)):
            newQ, C = 0.0, 0.0
        qty[sym], cost[sym], realized[sym], last[sym] = newQ, C, R - c, p
    out = {}
    for sym in qty:
        Q, C = qty[sym], cost[sym]
        avg = C / Q if Q else 0.0
        out[sym] = dict(quantity=Q, avg_price=avg, realized_pnl=realized[sym],
                        unrealized_pnl=Q * last[sym] - C, market_value=Q * last[sym],
                        last_price=last[sym])
    totals = dict(
        cash=cash,
        total_value=cash + sum(p["market_value"] for p in out.values()),
        realized_pnl=sum(p["realized_pnl"] for p in out.values()),
        unrealized_pnl=sum(p["unrealized_pnl"] for p in out.values()),
    )
    return out, totals


def random_events(seed, n, symbols=("AAA", "BBB", "CCC", "DDD"), fractional=False):
    """Buys, sells, flips, partial and full closes, commissions and price ticks."""
    rng = random.Random(seed)
    price = {s: rng.uniform(10, 500) for s in symbols}
    held = {s: 0.0 for s in symbols}
    events = []
    for _ in range(n):
        s = rng.choice(symbols)
        price[s] = round(price[s] * math.exp(rng.gauss(0, 0.02)), 4)
        kind = rng.random()
        if kind < 0.5:
            events.append(("price", s, price[s]))
            continue
        h = held[s]
        if fractional:
            q = rng.choice([0.1, 0.2, 0.3, 0.7, 1.5, 2.25]) * rng.choice([1, -1])
        elif h and kind < 0.6:
            q = -h  # close exactly
        elif h and kind < 0.7:
            q = -h * rng.choice([2, 3])  # flip
        elif h and kind < 0.8:
            q = -math.copysign(rng.randint(1, max(1, int(abs(h)))), h)  # partial (or full) close
        else:
            q = float(rng.randint(1, 300) * rng.choice([1, -1]))
        c = rng.choice([0.0, 0.0, 1.0, round(abs(q) * price[s] * 1e-4, 6)])
        events.append(("fill", s, float(q), price[s], c))
        held[s] = held[s] + q
        if abs(held[s]) <= 1e-12 * max(abs(h), abs(q)):
            held[s] = 0.0
    return events


def apply(tracker, ev):
    if ev[0] == "price":
        tracker.on_price(ev[1], ev[2])
    else:
        tracker.on_fill(*ev[1:])


def scale_of(events, initial_cash):
    """Gross size of the book: the absolute floor of the comparisons."""
    gross = sum(abs(ev[2] * ev[3]) + abs(ev[4]) for ev in events if ev[0] == "fill")
    return abs(initial_cash) + gross + 1.0


def assert_matches(tracker, events, initial_cash, rel=1e-9):
    ref, totals = naive(events, initial_cash)
    floor = 1e-9 * scale_of(events, initial_cash)
    for name, want in totals.items():
        got = getattr(tracker, name)
        assert got == pytest.approx(want, rel=rel, abs=floor), name
    for sym, want in ref.items():
        pos = tracker.position(sym)
        assert pos.symbol == sym
        for field, value in want.items():
            assert getattr(pos, field) == pytest.approx(value, rel=rel, abs=floor), (sym, field)
    open_ = {s for s, p in ref.items() if p["quantity"] != 0.0}
    assert set(tracker.positions()) == open_
    # the accounting identity, on the tracker's own totals
    assert tracker.total_value - initial_cash == pytest.approx(
        tracker.realized_pnl + tracker.unrealized_pnl, rel=rel, abs=floor)


# -- against the reference -------------------------------------------------------------------

@pytest.mark.parametrize("seed", [1, 2])
def test_random_stream_checked_after_every_event(pf, seed):
    events = random_events(seed, 1_200)
    kinds = {ev[0] for ev in events}
    assert kinds == {"fill", "price"}
    t = pf.IncrementalPositionTracker(initial_cash=1e5)
    for i, ev in enumerate(events):
        apply(t, ev)
        assert_matches(t, events[: i + 1], 1e5)


@pytest.mark.parametrize("seed", [3, 4])
def test_many_symbols_as_equal_and_identical_objects(pf, seed):
    """More symbols than the compiled tracker's identity cache has slots
    (collisions and evictions), each tick naming its symbol by the same
    object, by a fresh equal object or by an int, and a reset part way: the
    totals and positions are the reference's throughout."""
    rng = random.Random(seed)
    names = [f"S{i:03d}" for i in range(300)] + list(range(40))
    events = random_events(seed, 4_000, symbols=tuple(names))

    def spelled(sym):  # the same object, or an equal one made afresh
        if isinstance(sym, str) and rng.random() < 0.5:
            return "".join(list(sym))
        return sym

    t = pf.IncrementalPositionTracker(initial_cash=1e5)
    half = len(events) // 2
    for i, ev in enumerate(events[:half]):
        apply(t, (ev[0], spelled(ev[1]), *ev[2:]))
        if i % 500 == 0:
            assert_matches(t, events[: i + 1], 1e5)
    assert_matches(t, events[:half], 1e5)
    t.reset()
    assert t.positions() == {} and t.position(names[0]).quantity == 0.0
    for ev in events[half:]:
        apply(t, (ev[0], spelled(ev[1]), *ev[2:]))
    assert_matches(t, events[half:], 1e5)


def test_symbol_finalizer_reentering_the_tracker(pf):
    """Each tick names its symbol by a new object whose ``__del__`` marks
    another symbol: the compiled tracker's identity table holds those
    objects and lets go of them when it grows or is emptied, so the
    finalizers run inside on_price and on_fill (and reset) and come back
    into the tracker. Nothing crashes and the totals are the reference's."""
    t = pf.IncrementalPositionTracker(initial_cash=1e5)
    reentered = [0]
    live = [True]

    class Sym(str):
        __slots__ = ()

        def __del__(self):
            if live[0]:
                reentered[0] += 1
                t.on_price("ZZZ", 100.0)   # ZZZ's last price: no change

    names = [f"S{i:03d}" for i in range(150)]
    events = [("fill", "ZZZ", 10.0, 100.0, 0.0)] + random_events(6, 3_000, symbols=tuple(names))
    try:
        for i, ev in enumerate(events):
            sym = Sym(ev[1]) if ev[1] != "ZZZ" else ev[1]
            apply(t, (ev[0], sym, *ev[2:]))
            del sym
            if i % 700 == 0:
                assert_matches(t, events[: i + 1], 1e5)
        assert_matches(t, events, 1e5)
        t.reset()
        assert t.positions() == {}
        t.on_fill(Sym("AAA"), 1.0, 10.0)
        assert t.positions()["AAA"].quantity == 1.0 and t.cash == 1e5 - 10.0
    finally:
        live[0] = False
    assert reentered[0] > 1_000


def test_random_stream_covers_flips_and_closes():
    """The generator makes every kind of fill the rules distinguish."""
    events = random_events(1, 1_200)
    held, seen = {}, set()
    for ev in events:
        if ev[0] != "fill":
            continue
        h, q = held.get(ev[1], 0.0), ev[2]
        if h == 0:
            seen.add("open")
        elif (h > 0) == (q > 0):
            seen.add("add")
        elif abs(q) < abs(h):
            seen.add("partial")
        elif abs(q) == abs(h):
            seen.add("close")
        else:
            seen.add("flip")
        if ev[4]:
            seen.add("commission")
        held[ev[1]] = h + q
    assert seen == {"open", "add", "partial", "close", "flip", "commission"}


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_random_stream_read_rarely(pf, seed):
    """Reads at random intervals: many marks and fills between reads."""
    events = random_events(seed, 3_000, symbols=tuple(f"S{i}" for i in range(7)))
    rng = random.Random(seed)
    t = pf.IncrementalPositionTracker(initial_cash=-2_500.0)
    for i, ev in enumerate(events):
        apply(t, ev)
        if rng.random() < 0.02:
            assert_matches(t, events[: i + 1], -2_500.0)
    assert_matches(t, events, -2_500.0)


def test_fractional_quantities(pf):
    events = random_events(9, 1_500, fractional=True)
    t = pf.IncrementalPositionTracker()
    for i, ev in enumerate(events):
        apply(t, ev)
        if i % 10 == 0:
            assert_matches(t, events[: i + 1], 0.0)
    assert_matches(t, events, 0.0)


def test_exact_against_fractions(pf):
    """Integer quantities and prices on a 1/16 grid: the float reference and
    an exact rational replay agree with the tracker."""
    rng = random.Random(11)
    events = []
    for _ in range(400):
        s = rng.choice("XY")
        p = rng.randint(80 * 16, 120 * 16) / 16
        if rng.random() < 0.4:
            events.append(("price", s, p))
        else:
            events.append(("fill", s, float(rng.randint(-50, 50) or 1), p, rng.choice([0.0, 0.5])))
    exact = [tuple(Fraction(x) if isinstance(x, float) else x for x in ev) for ev in events]
    ref, totals = naive(exact, Fraction(1000))
    t = pf.IncrementalPositionTracker(1000)
    for ev in events:
        apply(t, ev)
    for name, want in totals.items():
        assert getattr(t, name) == pytest.approx(float(want), rel=1e-12, abs=1e-9), name
    for sym, want in ref.items():
        pos = t.position(sym)
        for field, value in want.items():
            assert getattr(pos, field) == pytest.approx(float(value), rel=1e-12, abs=1e-9), (sym, field)


@settings(max_examples=examples(60), deadline=None)
@given(st.lists(
    st.one_of(
        st.tuples(st.just("fill"), st.sampled_from("ABC"),
                  st.integers(-40, 40).filter(bool).map(float),
                  st.floats(0.5, 1_000, allow_nan=False), st.sampled_from([0.0, 0.25, 3.0])),
        st.tuples(st.just("price"), st.sampled_from("ABC"), st.floats(0.5, 1_000, allow_nan=False)),
    ),
    max_size=60,
))
def test_hypothesis_streams(ap, events):
    mod = ap.portfolio
    t = mod.IncrementalPositionTracker(50.0)
    for i, ev in enumerate(events):
        apply(t, ev)
        assert_matches(t, events[: i + 1], 50.0)


# -- the rules, by hand ----------------------------------------------------------------------

def test_average_cost_rules_by_hand(pf):
    t = pf.IncrementalPositionTracker(initial_cash=10_000)
    t.on_fill("X", 100, 10.0)
    t.on_fill("X", 100, 12.0)  # add: avg (1000 + 1200) / 200
    p = t.position("X")
    assert (p.quantity, p.avg_price, p.realized_pnl) == (200, 11.0, 0.0)
    assert t.cash == 10_000 - 2_200

    t.on_fill("X", -50, 15.0, commission=2.0)  # partial close: (15 - 11) * 50 - 2
    p = t.position("X")
    assert (p.quantity, p.avg_price, p.realized_pnl) == (150, 11.0, 198.0)
    assert (p.last_price, p.market_value, p.unrealized_pnl) == (15.0, 2_250.0, 600.0)
    assert t.cash == 10_000 - 2_200 + 750 - 2

    t.on_fill("X", -200, 9.0)  # flip: realize (9 - 11) * 150, open -50 at 9
    p = t.position("X")
    assert (p.quantity, p.avg_price, p.realized_pnl) == (-50, 9.0, 198.0 - 300.0)
    assert p.market_value == -450.0

    t.on_price("X", 8.0)  # a short gains when the price falls
    p = t.position("X")
    assert (p.unrealized_pnl, p.market_value, p.last_price) == (50.0, -400.0, 8.0)

    t.on_fill("X", 50, 8.0, commission=1.0)  # close the short: (8 - 9) * -50 - 1
    p = t.position("X")
    assert (p.quantity, p.avg_price, p.realized_pnl, p.unrealized_pnl, p.market_value) == (0, 0, -53.0, 0, 0)
    assert t.positions() == {}
    assert t.realized_pnl == -53.0 and t.unrealized_pnl == 0.0
    assert t.total_value == t.cash == 10_000 - 53.0


def test_short_from_flat_and_cover_with_loss(pf):
    t = pf.IncrementalPositionTracker()
    t.on_fill("S", -10, 100.0)
    assert t.cash == 1_000.0
    t.on_price("S", 110.0)
    assert t.unrealized_pnl == -100.0 and t.total_value == 1_000.0 - 1_100.0
    t.on_fill("S", 4, 120.0)  # partial cover: (120 - 100) * -4
    p = t.position("S")
    assert (p.quantity, p.avg_price, p.realized_pnl, p.unrealized_pnl) == (-6, 100.0, -80.0, -120.0)


def test_fill_marks_the_symbol_over_an_older_mark(pf):
    t = pf.IncrementalPositionTracker()
    t.on_fill("A", 10, 5.0)
    t.on_price("A", 7.0)
    t.on_fill("A", 10, 6.0)  # the fill's price replaces it
    p = t.position("A")
    assert (p.last_price, p.avg_price, p.market_value, p.unrealized_pnl) == (6.0, 5.5, 120.0, 10.0)
    t.on_price("A", 6.5)
    t.on_price("A", 4.0)  # the last mark wins
    assert t.position("A").last_price == 4.0
    assert t.unrealized_pnl == 20 * (4.0 - 5.5)


def test_fractional_close_is_flat(pf):
    t = pf.IncrementalPositionTracker()
    t.on_fill("F", 0.1, 10.0)
    t.on_fill("F", 0.2, 10.0)
    t.on_fill("F", -0.3, 11.0)  # 0.1 + 0.2 - 0.3 != 0 in binary
    p = t.position("F")
    assert p.quantity == 0.0 and p.avg_price == 0.0 and p.unrealized_pnl == 0.0
    assert p.realized_pnl == pytest.approx(0.3, rel=1e-12, abs=0)
    assert t.positions() == {}


def test_unknown_and_priced_only_symbols_are_flat(pf):
    t = pf.IncrementalPositionTracker(initial_cash=100)
    p = t.position("NONE")
    assert (p.symbol, p.quantity, p.avg_price, p.realized_pnl, p.unrealized_pnl, p.market_value) == (
        "NONE", 0.0, 0.0, 0.0, 0.0, 0.0)
    assert math.isnan(p.last_price)
    t.on_price("Q", 12.5)
    p = t.position("Q")
    assert p.quantity == 0.0 and p.last_price == 12.5 and p.market_value == 0.0
    assert t.positions() == {} and t.total_value == 100.0


def test_position_is_an_immutable_snapshot(pf):
    t = pf.IncrementalPositionTracker()
    t.on_fill("A", 3, 2.0)
    p = t.position("A")
    with pytest.raises(AttributeError):
        p.quantity = 5
    t.on_fill("A", 3, 4.0)
    assert p.quantity == 3 and t.position("A").quantity == 6
    assert t.positions()["A"] == t.position("A")


def test_non_str_hashable_symbols_and_numpy_numbers(pf):
    t = pf.IncrementalPositionTracker()
    t.on_fill(("ES", 202412), np.int64(2), np.float64(5_000.25), np.float32(1.5))
    t.on_price(("ES", 202412), np.float64(5_010.25))
    p = t.position(("ES", 202412))
    assert p.quantity == 2 and p.unrealized_pnl == pytest.approx(20.0, rel=1e-12, abs=0)
    assert type(t.total_value) is float


def test_reset(pf):
    t = pf.IncrementalPositionTracker(initial_cash=7)
    t.on_fill("A", 1, 2.0, 0.5)
    t.on_price("B", 3.0)
    t.reset()
    assert (t.cash, t.total_value, t.realized_pnl, t.unrealized_pnl) == (7, 7, 0, 0)
    assert t.positions() == {} and math.isnan(t.position("B").last_price)


# -- validation --------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [NAN, math.inf, -math.inf, 0.0, -1.0, 0])
def test_on_price_refuses_bad_prices(pf, bad):
    t = pf.IncrementalPositionTracker()
    t.on_fill("A", 1, 10.0)
    with pytest.raises(ValueError, match="price"):
        t.on_price("A", bad)
    assert t.position("A").last_price == 10.0  # unchanged
    assert t.total_value == 0.0


def test_on_price_type_errors_name_the_parameter(pf):
    t = pf.IncrementalPositionTracker()
    with pytest.raises(TypeError, match="price"):
        t.on_price("A", "10")
    with pytest.raises(TypeError, match="price"):
        t.on_price("A", None)
    with pytest.raises(TypeError, match="symbol"):
        t.on_price(["A"], 10.0)
    assert t.position("A").quantity == 0.0 and math.isnan(t.position("A").last_price)


@pytest.mark.parametrize(("kwargs", "exc", "name"), [
    (dict(quantity=0), ValueError, "quantity"),
    (dict(quantity=0.0), ValueError, "quantity"),
    (dict(quantity=NAN), ValueError, "quantity"),
    (dict(quantity=math.inf), ValueError, "quantity"),
    (dict(quantity="1"), TypeError, "quantity"),
    (dict(quantity=True), TypeError, "quantity"),
    (dict(price=0.0), ValueError, "price"),
    (dict(price=-5.0), ValueError, "price"),
    (dict(price=NAN), ValueError, "price"),
    (dict(price=math.inf), ValueError, "price"),
    (dict(price=None), TypeError, "price"),
    (dict(commission=NAN), ValueError, "commission"),
    (dict(commission=-math.inf), ValueError, "commission"),
    (dict(commission="0"), TypeError, "commission"),
    (dict(symbol=["A"]), TypeError, "symbol"),
    (dict(symbol={}), TypeError, "symbol"),
])
def test_on_fill_validation_names_the_parameter(pf, kwargs, exc, name):
    t = pf.IncrementalPositionTracker(initial_cash=100)
    t.on_fill("A", 5, 10.0)
    args = dict(symbol="A", quantity=1, price=11.0, commission=0.0) | kwargs
    with pytest.raises(exc, match=name):
        t.on_fill(**args)
    p = t.position("A")  # nothing changed
    assert (p.quantity, p.avg_price, p.last_price, t.cash) == (5, 10.0, 10.0, 50.0)


def test_negative_commission_is_a_rebate(pf):
    t = pf.IncrementalPositionTracker()
    t.on_fill("A", 1, 10.0, commission=-0.25)
    assert t.cash == -9.75 and t.realized_pnl == 0.25


@pytest.mark.parametrize("bad", [NAN, math.inf, "0"])
def test_initial_cash_validation(pf, bad):
    with pytest.raises((ValueError, TypeError), match="initial_cash"):
        pf.IncrementalPositionTracker(initial_cash=bad)


# -- implementation ----------------------------------------------------------------------------

def test_core_is_the_selected_implementation(pf, ap):
    """The compiled ``PositionCore`` on the compiled package, the twin's on the other."""
    twin = ap._ext.NO_EXTENSIONS
    assert pf._risk.__name__ == "admf_perf._ext._risk" + ("_py" if twin else "")
    assert issubclass(pf.IncrementalPositionTracker, pf._risk.PositionCore)
    assert pf.IncrementalPositionTracker.on_price is pf._risk.PositionCore.on_price


def test_on_price_is_applied_at_once(pf):
    """Eager marks: the totals move by the delta at once (no pending marks)."""
    t = pf.IncrementalPositionTracker(1_000.0)
    t.on_fill("A", 10, 5.0)
    t.on_fill("B", -4, 20.0)
    assert (t.market_value, t.unrealized_pnl) == (50.0 - 80.0, 0.0)
    t.on_price("A", 6.0)
    assert (t.market_value, t.unrealized_pnl, t.total_value) == (60.0 - 80.0, 10.0, 1_000.0 + 10.0)
    t.on_price("B", 25.0)  # the short loses
    assert (t.market_value, t.unrealized_pnl) == (60.0 - 100.0, -10.0)
    t.on_price("C", 3.0)  # priced only: no position, no value
    assert t.market_value == -40.0 and t.position("C").last_price == 3.0
    assert not hasattr(t, "_marks")


def test_on_price_error_leaves_state_unchanged(pf):
    class BadEq(str):
        __hash__ = str.__hash__

        def __eq__(self, other):
            raise RuntimeError("eq")

    t = pf.IncrementalPositionTracker()
    t.on_fill("A", 1, 10.0)
    with pytest.raises(RuntimeError, match="eq"):
        t.on_price(BadEq("A"), 11.0)
    with pytest.raises(TypeError, match="price"):
        t.on_price("A", [11.0])
    assert t.position("A").last_price == 10.0 and t.total_value == 0.0
