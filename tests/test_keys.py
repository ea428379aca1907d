"""CacheKey.generate_key and the buffer digest (docs/caching.md, ``CacheKey.generate_key``).

``generate_key`` is tested through the ``ap`` fixture (compiled package and
pure-Python twins); ``digest`` directly on ``admf_perf._ext._keys`` (when built)
and ``admf_perf._ext._keys_py``.  References are independent: Python's own
equality for plain values and containers, ``shape``/``dtype``/``tobytes()`` for
arrays, a word-by-word Python implementation of the documented digest.
"""
from __future__ import annotations

import collections
import copy
import importlib
import math
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ALL_IMPLS, examples

pd = pytest.importorskip("pandas")

SRC = Path(__file__).resolve().parent.parent / "src"


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------


def _import_compiled_keys():
    try:
        return importlib.import_module("admf_perf._ext._keys")
    except ImportError:
        return None


@pytest.fixture(params=ALL_IMPLS)
def keymod(request):
    """The ``_keys`` module itself (for ``digest`` and module-level checks)."""
    if request.param == "python":
        return importlib.import_module("admf_perf._ext._keys_py")
    mod = _import_compiled_keys()
    if mod is None:
        pytest.skip("admf_perf._ext._keys is not built")
    return mod


@pytest.fixture
def gk(ap):
    return ap.CacheKey.generate_key


def key1(gk, value):
    """Key of a call with the single positional argument ``value``."""
    return gk((value,), {})


def same(gk, a, b):
    ka, kb = key1(gk, a), key1(gk, b)
    if ka == kb:
        assert hash(ka) == hash(kb)
        return True
    return False


# --------------------------------------------------------------------------
# layout, kwargs, include_self
# --------------------------------------------------------------------------


def test_key_is_a_hashable_tuple(gk):
    key = gk((1, 2.0, "a"), {"x": 1, "y": "b"})
    assert isinstance(key, tuple)
    hash(key)
    # plain scalars are placed as they are, keywords sorted by name after a mark
    assert key[:3] == (1, 2.0, "a")
    assert key[4:] == ("x", 1, "y", "b")
    assert key[3] not in (1, 2.0, "a", "x", "y", "b", None)


def test_kwargs_order_does_not_matter(gk):
    a = gk((1,), {"b": 2, "a": 1, "c": [3]})
    b = gk((1,), {"c": [3], "a": 1, "b": 2})
    assert a == b and hash(a) == hash(b)


def test_many_kwargs_order_does_not_matter(gk):
    names = [f"k{i:02d}" for i in range(40)]
    forward = {n: i for i, n in enumerate(names)}
    backward = {n: forward[n] for n in reversed(names)}
    assert gk((), forward) == gk((), backward)
    changed = dict(backward, k07=-1)
    assert gk((), forward) != gk((), changed)


def test_non_str_kwarg_names_order_does_not_matter(gk):
    a = gk((), {1: "a", "x": 2, (3, 4): [5]})
    b = gk((), {(3, 4): [5], "x": 2, 1: "a"})
    assert a == b
    assert a != gk((), {1: "a", "x": 2, (3, 4): [6]})


def test_positional_and_keyword_differ(gk):
    assert gk((1,), {}) != gk((), {"x": 1})
    assert gk((1,), None) == gk((1,), {}) == gk([1])
    assert gk((), {"x": 1}) != gk((), {"y": 1})
    assert gk((), {"x": 1}) != gk((), {"x": 2})
    assert gk((1, 2), {}) != gk((2, 1), {})
    assert gk((1,), {"x": 2}) != gk((1, 2), {})


def test_kwargs_may_be_any_mapping_or_pairs(gk):
    ref = gk((1,), {"a": 1, "b": [2]})
    assert gk((1,), collections.OrderedDict([("b", [2]), ("a", 1)])) == ref
    assert gk((1,), [("b", [2]), ("a", 1)]) == ref


def test_include_self_false_drops_first_argument(gk):
    class Unkeyable:
        __hash__ = None

    a = gk((Unkeyable(), 1, [2]), {"x": 3}, include_self=False)
    b = gk((object(), 1, [2]), {"x": 3}, include_self=False)
    assert a == b == gk((1, [2]), {"x": 3})
    assert gk((1, 2), include_self=False) != gk((1, 3), include_self=False)
    assert gk((), include_self=False) == gk(())
    assert gk((5, 1)) != gk((6, 1))


# --------------------------------------------------------------------------
# scalars, containers, NaN
# --------------------------------------------------------------------------

POOL = [
    0, 1, 2, -1, 2**70, 0.5, 1e300, "", "a", "b", "ab", b"a", b"", None,
    (), [], {}, set(), frozenset({1}), {1}, {1, 2}, {2, 1, 3},
    (1,), [1], (1, 2), [1, 2], [2, 1], (2, 1), [[1], 2], [1, [2]], [(1, 2)],
    ((1, 2),), [[1, 2]], ([1], [2]), [[]], [()], ((),), ([],),
    {1: 2}, {2: 1}, {1: 1}, {1: [2]}, {1: (2,)}, {"a": 1, "b": 2},
    {"a": 2, "b": 1}, {"a": {"b": [1]}}, {"a": {"b": [2]}}, {(1, 2): "x"},
    [{1: 2}], ({1: 2},), [{1}], [frozenset({1})], "1", b"1", 1.5, [1.5],
    complex(1, 2), range(3), bytearray(b"a"), bytearray(b"ab"),
    collections.namedtuple("P", "x y")(1, 2), collections.OrderedDict(a=1, b=2),
]


def test_keys_follow_python_equality(gk):
    """Key equality == Python equality, over a pool of values and containers."""
    keys = [key1(gk, v) for v in POOL]
    for i, a in enumerate(POOL):
        for j, b in enumerate(POOL):
            assert (keys[i] == keys[j]) == (a == b), (a, b)
            if a == b:
                assert hash(keys[i]) == hash(keys[j])


def test_equal_scalars_key_alike_as_in_a_dict(gk):
    assert same(gk, 1, 1.0) and same(gk, 1, True) and same(gk, 0, False)
    assert same(gk, [1, 0], [True, 0.0])
    assert not same(gk, 1, "1")


def test_nan_keys_equal_nan(gk):
    nan1, nan2 = float("nan"), float("-nan")
    assert nan1 is not nan2
    assert same(gk, nan1, nan2)
    assert same(gk, [nan1, 1], [nan2, 1])
    assert same(gk, {"a": (nan1,)}, {"a": (float("nan"),)})
    assert same(gk, {nan1: 1}, {nan2: 1})
    assert same(gk, np.float64("nan"), nan1)
    assert same(gk, np.float32("nan"), nan2)
    assert same(gk, complex(nan1, 1.0), complex(nan2, 1.0))
    assert not same(gk, complex(nan1, 1.0), complex(nan1, 2.0))
    assert same(gk, np.datetime64("NaT", "ns"), np.datetime64("NaT", "ns"))
    assert not same(gk, np.datetime64("NaT", "ns"), np.timedelta64("NaT", "ns"))
    assert gk((), {"x": nan1}) == gk((), {"x": nan2})
    assert not same(gk, nan1, 0.0)
    assert not same(gk, nan1, math.inf)
    assert not same(gk, nan1, "nan")


def test_subclass_nan_and_numpy_scalars(gk):
    class F(float):
        pass

    assert same(gk, F("nan"), float("nan"))
    assert same(gk, np.int64(3), 3)
    assert same(gk, np.float64(2.5), 2.5)
    assert not same(gk, np.int64(3), 4)


def test_tags_cannot_collide_with_user_values(gk):
    key = key1(gk, [1, 2])
    (converted,) = key
    tag = converted[0]
    # a user tuple that starts with the very tag object is still a different value
    assert not same(gk, (tag, 1, 2), [1, 2])
    assert not same(gk, [1, 2], (1, 2))
    assert not same(gk, [1, 2], ("list", 1, 2))
    assert not same(gk, {1: 2}, frozenset({(1, 2)}))
    assert not same(gk, {1, 2}, (1, 2))
    (nan_tag,) = key1(gk, float("nan"))
    assert not same(gk, nan_tag, float("nan"))
    assert not same(gk, [nan_tag], [float("nan")])
    assert same(gk, nan_tag, nan_tag)
    assert not same(gk, tag, nan_tag)
    assert "list" in repr(tag)


def test_tags_survive_copy_and_pickle(keymod):
    key = keymod.generate_key(([1, {"a": {2}}], float("nan"), np.arange(3)), {"x": [1]})
    assert copy.deepcopy(key) == key
    assert copy.copy(key) == key
    assert pickle.loads(pickle.dumps(key)) == key


# --------------------------------------------------------------------------
# cache_key()
# --------------------------------------------------------------------------


class WithKey:
    def __init__(self, k):
        self.k = k

    def cache_key(self):
        return self.k


class UnhashableWithKey(WithKey):
    __hash__ = None


def test_cache_key_is_used_and_converted(gk):
    assert same(gk, WithKey([1, 2]), WithKey([1, 2]))
    assert not same(gk, WithKey([1, 2]), WithKey([1, 3]))
    assert same(gk, UnhashableWithKey({"a": [1]}), UnhashableWithKey({"a": [1]}))
    # its converted result, recursively (a cache_key returning a keyed object)
    assert same(gk, WithKey(WithKey((1, [2]))), WithKey((1, [2])))
    assert same(gk, WithKey([1, 2]), [1, 2])


def test_cache_key_checked_before_other_rules(gk):
    # hashable objects (distinct identity hashes) with one cache_key key alike
    a, b = WithKey("same"), WithKey("same")
    assert hash(a) != hash(b)
    assert same(gk, a, b)

    class KeyedList(list):
        def cache_key(self):
            return "fixed"

    assert same(gk, KeyedList([1]), KeyedList([2]))

    class KeyedArray(np.ndarray):
        def cache_key(self):
            return "arr"

    x = np.arange(3).view(KeyedArray)
    y = np.arange(4).view(KeyedArray)
    assert same(gk, x, y)


def test_cache_key_returning_self_keys_by_the_other_rules(gk):
    class Self:
        def __init__(self, v):
            self.v = v

        def cache_key(self):
            return self

        def __eq__(self, other):
            return isinstance(other, Self) and other.v == self.v

        def __hash__(self):
            return hash(self.v)

    assert same(gk, Self(1), Self(1))
    assert not same(gk, Self(1), Self(2))


def test_non_callable_cache_key_attribute_is_ignored(gk):
    class Attr:
        cache_key = "not callable"
        __hash__ = None

    with pytest.raises(TypeError, match=r"args\[0\] of type 'Attr'"):
        gk((Attr(),))


def test_cache_key_exceptions_propagate_unchanged(gk):
    err = RuntimeError("boom")

    class Bad:
        def cache_key(self):
            raise err

    with pytest.raises(RuntimeError) as info:
        gk((1, Bad()))
    assert info.value is err


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------


class Foo:
    __hash__ = None


def test_unkeyable_argument_named_by_position(gk):
    with pytest.raises(TypeError, match=r"^CacheKey\.generate_key: cannot key args\[1\] of type 'Foo': "
                                        r"unhashable and has no cache_key\(\)$"):
        gk((1, Foo()))


def test_unkeyable_argument_named_by_keyword(gk):
    with pytest.raises(TypeError, match=r"cannot key kwargs\['x'\] of type 'Foo'"):
        gk((1,), {"a": 1, "x": Foo()})


def test_unkeyable_nested_path(gk):
    with pytest.raises(TypeError, match=r"cannot key args\[0\]\[2\] of type 'Foo'"):
        gk(([1, 2, Foo()],))
    with pytest.raises(TypeError, match=r"cannot key args\[1\]\['k'\]\[0\] of type 'Foo'"):
        gk((0, {"k": (Foo(),)}))
    with pytest.raises(TypeError, match=r"cannot key kwargs\['y'\]\.cache_key\(\)\[1\] of type 'Foo'"):
        gk((), {"y": WithKey([0, Foo()])})


def test_unkeyable_index_counts_from_the_original_args(gk):
    with pytest.raises(TypeError, match=r"cannot key args\[2\] of type 'Foo'"):
        gk(("self", 1, Foo()), include_self=False)


def test_hash_type_error_is_chained(gk):
    class HashTypeError:
        def __hash__(self):
            raise TypeError("inner")

    with pytest.raises(TypeError, match=r"args\[0\] of type 'HashTypeError'") as info:
        gk((HashTypeError(),))
    assert isinstance(info.value.__cause__, TypeError)
    assert str(info.value.__cause__) == "inner"


def test_hash_other_exceptions_propagate_unchanged(gk):
    err = ValueError("no hash for you")

    class HashValueError:
        def __hash__(self):
            raise err

    with pytest.raises(ValueError) as info:
        gk((1, [HashValueError()]), {"x": 2})
    assert info.value is err
    with pytest.raises(ValueError) as info:
        gk((), {"x": HashValueError()})
    assert info.value is err


def test_deep_nesting_is_a_recursion_error_not_a_crash(gk):
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(RecursionError):
        gk((deep,))
    cyclic: list = [1]
    cyclic.append(cyclic)
    with pytest.raises(RecursionError):
        gk((cyclic,))


def test_mutation_during_conversion_is_safe(gk):
    kwargs: dict = {}
    victim = [1, 2, 3]

    class Mutator:
        def cache_key(self):
            kwargs.clear()
            kwargs.update({f"n{i}": [i] for i in range(50)})
            victim.clear()
            return "m"

    kwargs.update(a=Mutator(), b=[1], c=2.0)
    key = gk((victim, Mutator()), kwargs)
    hash(key)
    victim2 = [Mutator(), 5, 6, 7]
    hash(gk((victim2,)))


# --------------------------------------------------------------------------
# numpy arrays
# --------------------------------------------------------------------------


def _array_ref_equal(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_arrays_keyed_by_shape_dtype_and_content(gk):
    base = np.arange(12, dtype=np.int64)
    variants = [
        base, base.copy(), base.reshape(3, 4), base.reshape(4, 3), base.astype(np.int32),
        base.astype(np.float64), np.where(base == 5, 50, base), base[:-1], base[::-1].copy(),
        np.zeros((0, 3)), np.zeros((3, 0)), np.zeros(0), np.array(5), np.array([5]),
        np.array([True, False]), np.array([1, 0], dtype=np.uint8),
        np.arange(3).astype("datetime64[ns]"), np.arange(3).astype("datetime64[s]"),
        np.arange(3).astype("timedelta64[ns]"), np.arange(3, dtype=">i8"),
        np.array(["ab", "c"]), np.array([b"ab", b"c"]),
    ]
    keys = [key1(gk, v) for v in variants]
    for i, a in enumerate(variants):
        for j, b in enumerate(variants):
            assert (keys[i] == keys[j]) == _array_ref_equal(a, b), (i, j)


def test_random_arrays_against_reference(gk):
    rng = np.random.default_rng(7)
    arrays = []
    for _ in range(60):
        dtype = rng.choice(["u1", "i4", "f8", "f4", "c16"])
        shape = tuple(rng.integers(0, 4, size=rng.integers(0, 3)))
        arrays.append(np.asarray(rng.integers(0, 3, size=shape)).astype(dtype))
    for a in arrays:
        for b in arrays:
            assert (key1(gk, a) == key1(gk, b)) == _array_ref_equal(a, b)


def test_views_and_layouts_key_like_their_contiguous_copy(gk):
    m = np.arange(30, dtype=np.float64).reshape(5, 6)
    for view in (m.T, m[:, ::2], m[::2, 1:], m[::-1], np.asfortranarray(m)):
        assert same(gk, view, np.ascontiguousarray(view))
        assert same(gk, view, view.copy(order="K"))
    assert not same(gk, m.T, m)
    changed = m.copy()
    changed[4, 5] += 1
    assert not same(gk, changed, m)


def test_structured_dtypes_are_distinguished(gk):
    a = np.zeros(3, dtype=[("x", "<i4"), ("y", "<f4")])
    b = np.zeros(3, dtype=[("u", "<i4"), ("v", "<f4")])
    c = np.zeros(3, dtype=[("x", "<f4"), ("y", "<i4")])
    assert same(gk, a, a.copy())
    assert not same(gk, a, b)
    assert not same(gk, a, c)


def test_object_arrays_keyed_by_items(gk):
    a = np.array([[1, "x"], [[2], {"k": 3}]], dtype=object)
    b = np.array([[1, "x"], [[2], {"k": 3}]], dtype=object)
    c = np.array([[1, "x"], [[2], {"k": 4}]], dtype=object)
    assert same(gk, a, b)
    assert not same(gk, a, c)
    assert not same(gk, a, a.T.copy())
    assert same(gk, np.array([float("nan")], dtype=object), np.array([float("nan")], dtype=object))
    with pytest.raises(TypeError, match=r"args\[0\]\[1\] of type 'Foo'"):
        gk((np.array([1, Foo()], dtype=object),))


def test_variable_width_string_arrays(gk):
    dt = np.dtypes.StringDType()
    a = np.array(["a" * 50, "b"], dtype=dt)
    assert same(gk, a, np.array(["a" * 50, "b"], dtype=dt))
    assert not same(gk, a, np.array(["a" * 50, "c"], dtype=dt))


# --------------------------------------------------------------------------
# pandas
# --------------------------------------------------------------------------


def test_series_keyed_by_values_index_name_dtype(gk):
    s = pd.Series([1.0, 2.0, 3.0], index=["a", "b", "c"], name="px")
    assert same(gk, s, s.copy())
    assert same(gk, s, pd.Series([1.0, 2.0, 3.0], index=["a", "b", "c"], name="px"))
    assert not same(gk, s, s.rename("other"))
    assert not same(gk, s, s.rename(None))
    assert not same(gk, s, s.set_axis(["a", "b", "d"]))
    assert not same(gk, s, s.reset_index(drop=True))
    assert not same(gk, s, s.astype("float32"))
    assert not same(gk, s, s.where(s != 2.0, 2.5))
    assert not same(gk, s, s.values)
    assert not same(gk, s, s.rename_axis("key"))


def test_series_of_other_dtypes(gk):
    cases = [
        (pd.Series(["x", "y", None]), pd.Series(["x", "z", None])),
        (pd.Series([1, "1"], dtype=object), pd.Series(["1", "1"], dtype=object)),
        (pd.Series([1, None], dtype="Int64"), pd.Series([2, None], dtype="Int64")),
        (pd.Series(pd.Categorical(["a", "b", "a"])), pd.Series(pd.Categorical(["a", "b", "b"]))),
        (pd.Series(pd.date_range("2024", periods=3, tz="UTC")),
         pd.Series(pd.date_range("2024", periods=3, tz="US/Eastern"))),
        (pd.Series(pd.date_range("2024", periods=3)), pd.Series(pd.date_range("2025", periods=3))),
    ]
    for a, b in cases:
        assert same(gk, a, a.copy(deep=True))
        assert not same(gk, a, b), (a, b)
    assert not same(gk, pd.Series([1, 2]), pd.Series([1, 2], dtype="Int64"))


def test_index_keyed_by_values(gk):
    assert same(gk, pd.RangeIndex(4), pd.Index([0, 1, 2, 3]))
    assert not same(gk, pd.Index([0, 1, 2, 3]), pd.Index([0, 1, 2, 4]))
    assert same(gk, pd.Index(["a", "b"]), pd.Index(["a", "b"]))
    assert not same(gk, pd.Index(["a", "b"]), pd.Index(["a", "c"]))
    assert not same(gk, pd.Index([1, 2], dtype=object), pd.Index(["1", "2"], dtype=object))
    mi = pd.MultiIndex.from_tuples([(1, "a"), (2, "b")], names=["n", "s"])
    assert same(gk, mi, pd.MultiIndex.from_tuples([(1, "a"), (2, "b")], names=["n", "s"]))
    assert not same(gk, mi, pd.MultiIndex.from_tuples([(1, "a"), (2, "c")], names=["n", "s"]))
    assert not same(gk, mi, mi.set_names(["n", "t"]))
    assert not same(gk, pd.Index([1, 2]), pd.Index([1, 2], name="x"))


def test_dataframe_keyed_by_values_columns_index(gk):
    df = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5], "c": ["x", "y", "z"]})
    assert same(gk, df, df.copy())
    assert same(gk, df, pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5], "c": ["x", "y", "z"]}))
    assert not same(gk, df, df[["b", "a", "c"]])
    assert not same(gk, df, df.rename(columns={"c": "d"}))
    assert not same(gk, df, df.set_axis([10, 11, 12]))
    assert not same(gk, df, df.astype({"a": "int32"}))
    changed = df.copy()
    changed.loc[1, "c"] = "q"
    assert not same(gk, df, changed)
    changed = df.copy()
    changed.loc[2, "b"] = 9.0
    assert not same(gk, df, changed)
    assert not same(gk, df, df.iloc[:2])
    assert not same(gk, df[["a"]], df["a"])
    # transposed values in the same labels differ
    sq = pd.DataFrame([[1, 2], [3, 4]], columns=[0, 1])
    assert not same(gk, sq, sq.T)
    # column slices and fresh frames from the same data
    assert same(gk, df[["a", "b"]], df.copy()[["a", "b"]])


def test_dataframe_duplicate_and_empty(gk):
    dup = pd.DataFrame([[1, 2], [3, 4]], columns=["a", "a"])
    assert same(gk, dup, dup.copy())
    assert not same(gk, dup, pd.DataFrame([[1, 2], [3, 5]], columns=["a", "a"]))
    assert same(gk, pd.DataFrame(), pd.DataFrame())
    assert not same(gk, pd.DataFrame(), pd.DataFrame(columns=["a"]))


def test_pandas_unkeyable_cell_is_named(gk):
    df = pd.DataFrame({"a": [1, 2], "o": [Foo(), 1]})
    with pytest.raises(TypeError, match=r"cannot key kwargs\['df'\]\['o'\]\.values\[0\] of type 'Foo'"):
        gk((), {"df": df})


def test_pandas_inside_containers_and_kwargs(gk):
    s = pd.Series([1, 2])
    assert gk(([s, {"k": s}],), {"s": s}) == gk(([s.copy(), {"k": s.copy()}],), {"s": s.copy()})
    assert gk((), {"s": s}) != gk((), {"s": s + 1})


# --------------------------------------------------------------------------
# hypothesis: random nested structures
# --------------------------------------------------------------------------

scalars = st.one_of(
    st.integers(-3, 3),
    st.floats(allow_nan=False, min_value=-2, max_value=2).map(lambda x: round(x, 1)),
    st.sampled_from(["", "a", "b"]),
    st.booleans(),
    st.none(),
)
hashables = st.recursive(scalars, lambda inner: st.tuples(inner, inner), max_leaves=4)
structures = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(hashables, inner, max_size=3),
        st.frozensets(hashables, max_size=3),
    ),
    max_leaves=10,
)
with_nan = st.recursive(
    st.one_of(scalars, st.just(float("nan"))),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text("ab", max_size=2), inner, max_size=3)),
    max_leaves=10,
)


def _rebuild(x):
    """An equal structure made of fresh objects (new float objects included)."""
    if type(x) is float:
        return float(repr(x))
    if isinstance(x, list):
        return [_rebuild(v) for v in x]
    if isinstance(x, tuple):
        return tuple(_rebuild(v) for v in x)
    if isinstance(x, dict):
        items = [(_rebuild(k), _rebuild(v)) for k, v in x.items()]
        return dict(reversed(items))
    if isinstance(x, frozenset):
        return frozenset(_rebuild(v) for v in x)
    return x


@settings(max_examples=examples(200), deadline=None)
@given(structures)
def test_property_equal_structures_equal_keys(ap, value):
    gk = ap.CacheKey.generate_key
    for other in (copy.deepcopy(value), _rebuild(value)):
        ka, kb = gk((value,), {"v": value}), gk((other,), {"v": other})
        assert ka == kb
        assert hash(ka) == hash(kb)


@settings(max_examples=examples(200), deadline=None)
@given(structures, structures)
def test_property_key_equality_is_value_equality(ap, a, b):
    gk = ap.CacheKey.generate_key
    assert (gk((a,)) == gk((b,))) == (a == b)


@settings(max_examples=examples(100), deadline=None)
@given(with_nan)
def test_property_nan_structures_key_alike(ap, value):
    gk = ap.CacheKey.generate_key
    ka, kb = gk((value,)), gk((_rebuild(value),))
    assert ka == kb and hash(ka) == hash(kb)


# --------------------------------------------------------------------------
# digest
# --------------------------------------------------------------------------

_M = (1 << 64) - 1


def _ref_fmix(k):
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _M
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _M
    return k ^ (k >> 33)


def ref_digest(data: bytes) -> bytes:
    """The documented algorithm, one word at a time with Python ints."""
    n = len(data)
    padded = data + b"\0" * (-n % 8)
    a = b = 0
    for i in range(len(padded) // 8):
        w = int.from_bytes(padded[8 * i:8 * i + 8], "little")
        a = (a + _ref_fmix(w ^ ((i * 0x9E3779B97F4A7C15 + 0x243F6A8885A308D3) & _M))) & _M
        b = (b + _ref_fmix(w ^ ((i * 0xC2B2AE3D27D4EB4F + 0x13198A2E03707344) & _M))) & _M
    a ^= n
    b ^= n
    a = (a + b) & _M
    b = (b + a) & _M
    a, b = _ref_fmix(a), _ref_fmix(b)
    a = (a + b) & _M
    b = (b + a) & _M
    return a.to_bytes(8, "little") + b.to_bytes(8, "little")


def test_digest_matches_reference_for_small_inputs(keymod):
    rng = np.random.default_rng(1)
    for n in range(0, 101):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        d = keymod.digest(data)
        assert isinstance(d, bytes) and len(d) == 16
        assert d == ref_digest(data), n


def test_digest_matches_reference_for_a_larger_input(keymod):
    data = np.random.default_rng(2).integers(0, 256, 20_003, dtype=np.uint8).tobytes()
    assert keymod.digest(data) == ref_digest(data)


def test_compiled_digest_equals_twin():
    compiled = _import_compiled_keys()
    if compiled is None:
        pytest.skip("admf_perf._ext._keys is not built")
    twin = importlib.import_module("admf_perf._ext._keys_py")
    rng = np.random.default_rng(3)
    lengths = list(range(0, 101)) + [1023, 4096, 65_537, 524_288, 524_295, 1_048_583, 3_000_001]
    for n in lengths:
        data = rng.integers(0, 256, n, dtype=np.uint8)
        assert compiled.digest(data) == twin.digest(data), n
        assert compiled.digest(data.tobytes()) == twin.digest(data.tobytes()), n
    for dtype in ("f8", "f4", "i2", "c16", "M8[ns]", "?"):
        arr = rng.integers(0, 100, (17, 13)).astype(dtype)
        for view in (arr, arr.T, arr[::2, 1::3]):
            assert compiled.digest(view) == twin.digest(view)


def test_digest_of_views_equals_contiguous_copy(keymod):
    m = np.arange(60, dtype=np.int32).reshape(6, 10)
    for view in (m.T, m[:, ::3], m[::-1, ::-2], np.asfortranarray(m)):
        assert keymod.digest(view) == keymod.digest(np.ascontiguousarray(view))
        assert keymod.digest(view) == ref_digest(np.ascontiguousarray(view).tobytes())
    assert keymod.digest(m.T) != keymod.digest(m)
    raw = m.tobytes()
    assert keymod.digest(raw) == keymod.digest(m) == keymod.digest(bytearray(raw))
    assert keymod.digest(memoryview(raw)) == keymod.digest(memoryview(m))
    assert keymod.digest(np.array(1.5)) == ref_digest(np.array(1.5).tobytes())


def test_digest_bit_flips_and_length(keymod):
    base = bytes(range(64)) + b"\x01\x02\x03"
    ref = keymod.digest(base)
    seen = {ref}
    for bit in range(len(base) * 8):
        flipped = bytearray(base)
        flipped[bit // 8] ^= 1 << (bit % 8)
        d = keymod.digest(bytes(flipped))
        assert d != ref, bit
        seen.add(d)
    assert len(seen) == len(base) * 8 + 1
    # zero padding of the tail never aliases a longer input
    assert keymod.digest(b"\x01") != keymod.digest(b"\x01\x00")
    assert keymod.digest(b"") != keymod.digest(b"\x00")
    assert keymod.digest(b"\x00" * 8) != keymod.digest(b"\x00" * 16)
    # swapping two words changes it
    words = np.arange(8, dtype=np.uint64)
    swapped = words.copy()
    swapped[[2, 5]] = swapped[[5, 2]]
    assert keymod.digest(words) != keymod.digest(swapped)


def test_digest_bit_flips_in_a_large_buffer(keymod):
    data = np.random.default_rng(4).integers(0, 256, 600_000, dtype=np.uint8)
    ref = keymod.digest(data)
    for pos in (0, 7, 8, 299_999, 524_287, 524_288, 599_999):
        flipped = data.copy()
        flipped[pos] ^= 0x10
        assert keymod.digest(flipped) != ref


def test_digest_no_collisions_on_many_short_inputs(keymod):
    inputs = {i.to_bytes(3, "little") for i in range(5000)} | {i.to_bytes(9, "little") for i in range(5000)}
    assert len({keymod.digest(b) for b in inputs}) == len(inputs)


def test_digest_rejects_non_buffers_and_object_arrays(keymod):
    with pytest.raises(TypeError):
        keymod.digest("text")
    with pytest.raises(TypeError):
        keymod.digest(np.array([1, "a"], dtype=object))


# --------------------------------------------------------------------------
# pandas is not imported by keying
# --------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["admf_perf._ext._keys", "admf_perf._ext._keys_py"])
def test_keying_does_not_import_pandas(module):
    if module.endswith("_keys") and _import_compiled_keys() is None:
        pytest.skip("admf_perf._ext._keys is not built")
    code = textwrap.dedent(f"""
        import importlib, sys
        import numpy as np
        mod = importlib.import_module({module!r})  # the installed package, as users get it
        class Odd:
            __hash__ = None
        mod.generate_key(([1], {{"a": np.arange(3)}}, object(), 1.5), {{"x": {{1, 2}}}})
        try:
            mod.generate_key((Odd(),))
        except TypeError:
            pass
        assert "pandas" not in sys.modules, "pandas was imported"
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
