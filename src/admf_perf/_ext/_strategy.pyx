# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, embedsignature=True
# cython: freethreading_compatible=True
"""Compiled hot paths of ``admf_perf.research.strategy`` (the
backtesting.py-compatible engine).

Twin (specification): ``_strategy_py.py``.

- ``array_iter``: ``iter()`` of a revealed 2-D array (``upper, lower =
  self.bb``) from a list of its rows, with no IndexError to end it.
- ``crossover``: two 1-D float64 arrays of the engine's types (or plain
  ndarrays) are read in C, the last two values of each, with no numpy scalar
  boxed; anything else takes the twin's path (backtesting.py's conversions,
  then indexing).
- ``run_bars``: the bar loop of ``Backtest.run``, the same steps as the
  twin's in C (the strategy's ``next()`` and the broker's order processing
  stay Python calls); the equity of each bar is the same double expression,
  ``cash + (close * position_size - position_cost)``.  Each indicator is
  shown as a view of its first bars made in C (``admf_head``); last bar's
  view is grown in place when nobody else can see it (``admf_regrow``,
  docs/internals.md), else a new one is made, as the twin does every bar.
- ``PositionCore``: ``Strategy.position``'s truth value and its numbers
  (``size``, ``pl``, ``pl_pct``, ``is_long``, ``is_short``) as C slots and
  getters, the twin's expressions on the broker's attributes: ``if not
  self.position`` in a strategy's ``next()`` runs no Python frame.
- ``BrokerCore``, ``OrderCore``, ``TradeCore``, ``CommissionCore``: the
  broker (market orders only) and what it makes: the twin's fields and
  statements, on the same Python numbers, with no Python frame per order,
  fill or trade change.
"""

cimport cython
cimport numpy as cnp
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE, PyList_SET_ITEM
from cpython.exc cimport PyErr_Clear, PyErr_Occurred
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_CheckExact
from cpython.long cimport PyLong_AsDouble, PyLong_CheckExact
from cpython.object cimport Py_TYPE, PyObject, PyObject_SetAttr
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.sequence cimport PySequence_GetItem
from cpython.tuple cimport PyTuple_GET_ITEM
from libc.math cimport copysign

import warnings
from numbers import Number

import numpy as np
import pandas as pd

from admf_perf._ext._strategy_py import _cell    # the start-of-run check: the twin's, once per run
from admf_perf._ext._strategy_py import _BadArgument

cdef object _float64 = np.float64

cnp.import_array()

cdef extern from *:
    """
    #include "admf_internals.h"
    #if !defined(Py_GIL_DISABLED)
    #define ADMF_REGROW 1
    #else
    #define ADMF_REGROW 0                   /* refcounts are not exact there */
    #endif

    /* arr[..., :length]: the view numpy's slicing makes of the first
     * `length` positions of an array's last axis (a 1-D array's only one),
     * of the same type, made without a slice object or index parsing. */
    static PyObject* admf_head(PyObject* o, npy_intp length)
    {
        PyArrayObject* a;
        int nd;
        npy_intp dims[NPY_MAXDIMS];
        PyArray_Descr* descr;
        PyObject* v;
        if (!PyArray_Check(o)) {        /* checked before the loop; kept safe here */
            PyErr_SetString(PyExc_TypeError, "run_bars: an indicator is not an ndarray");
            return NULL;
        }
        a = (PyArrayObject*)o;
        nd = PyArray_NDIM(a);
        descr = PyArray_DESCR(a);
        if (nd < 1) {
            PyErr_SetString(PyExc_ValueError, "run_bars: an indicator has no axis");
            return NULL;
        }
        memcpy(dims, PyArray_DIMS(a), (size_t)nd * sizeof(npy_intp));
        if (length < dims[nd - 1])
            dims[nd - 1] = length;
        Py_INCREF(descr);                               /* stolen by the call */
        v = PyArray_NewFromDescr(Py_TYPE(o), descr, nd, dims, PyArray_STRIDES(a), PyArray_DATA(a),
                                 PyArray_FLAGS(a) & NPY_ARRAY_WRITEABLE, o);
        if (v == NULL)
            return NULL;
        Py_INCREF(o);                                   /* stolen by the call */
        if (PyArray_SetBaseObject((PyArrayObject*)v, o) < 0) {
            Py_DECREF(v);
            return NULL;
        }
        return v;
    }

    /* `v`, the view admf_head made of `root` for the last bar, grown in place
     * to the first `length` positions of root's last axis, when nobody can
     * see the change: only the strategy's attribute and this loop hold it
     * (`owners` references), it has no weak reference and no attribute of its
     * own, and it is still exactly such a view (a dtype, shape, strides or
     * flags setter leaves it alone).  1 when grown, else 0 (make a new one).
     * CPython internals: the exact reference count (docs/internals.md). */
    static int admf_regrow(PyObject* v, PyObject* root, npy_intp length, Py_ssize_t owners)
    {
        PyArrayObject* a = (PyArrayObject*)v;
        PyArrayObject* r = (PyArrayObject*)root;
        Py_ssize_t wl = Py_TYPE(v)->tp_weaklistoffset;
        PyObject* d;
        int nd, k, empty;
        if (!ADMF_REGROW || !admf_internals || Py_REFCNT(v) != owners || Py_TYPE(v) != Py_TYPE(root) || wl < 0
                || (wl > 0 && *(PyObject**)((char*)v + wl) != NULL))
            return 0;
        nd = PyArray_NDIM(r);
        if (PyArray_NDIM(a) != nd || PyArray_DESCR(a) != PyArray_DESCR(r) || PyArray_DATA(a) != PyArray_DATA(r)
                || PyArray_BASE(a) != root || length > PyArray_DIMS(r)[nd - 1]
                || (PyArray_FLAGS(a) & (NPY_ARRAY_WRITEABLE | NPY_ARRAY_OWNDATA))
                   != (PyArray_FLAGS(r) & NPY_ARRAY_WRITEABLE)
                || memcmp(PyArray_STRIDES(a), PyArray_STRIDES(r), (size_t)nd * sizeof(npy_intp)) != 0)
            return 0;
        for (k = 0; k < nd - 1; k++)
            if (PyArray_DIMS(a)[k] != PyArray_DIMS(r)[k])
                return 0;
        if (Py_TYPE(v)->tp_dictoffset != 0) {       /* an attribute set on the view stays on it */
            d = PyObject_GenericGetDict(v, NULL);
            if (d == NULL) {
                PyErr_Clear();
                return 0;
            }
            empty = PyDict_GET_SIZE(d) == 0;
            Py_DECREF(d);
            if (!empty)
                return 0;
        }
        PyArray_DIMS(a)[nd - 1] = length;
        if (nd == 1) {                  /* numpy's rule for one axis, without its general pass */
            if (length <= 1 || PyArray_STRIDES(a)[0] == PyArray_ITEMSIZE(a))
                PyArray_ENABLEFLAGS(a, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_F_CONTIGUOUS);
            else
                PyArray_CLEARFLAGS(a, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_F_CONTIGUOUS);
        }
        else
            PyArray_UpdateFlags(a, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_F_CONTIGUOUS);
        return 1;
    }

    /* The data's cached column views (data.Close, ...: `cache` maps a
     * column to the view _Data._get made of its first bars) grown in place
     * to `length`, each only when the cache alone holds it (admf_regrow; a
     * view the strategy keeps never changes).  1 when every one was, else 0
     * (the caller then empties the cache: the next read makes a new view).
     * Each view is held across its check (a collection there may run
     * Python code that changes the cache). */
    static int admf_regrow_columns(PyObject* cache, npy_intp length)
    {
        Py_ssize_t pos = 0;
        PyObject *key, *value, *root;
        int grown;
        while (PyDict_Next(cache, &pos, &key, &value)) {
            if (!PyArray_Check(value))
                return 0;
            root = (PyObject*)PyArray_BASE((PyArrayObject*)value);
            if (root == NULL || !PyArray_Check(root))
                return 0;
            Py_INCREF(value);
            Py_INCREF(root);
            grown = admf_regrow(value, root, length, 2);
            Py_DECREF(root);
            Py_DECREF(value);
            if (!grown)
                return 0;
        }
        return 1;
    }

    /* o.name as a new reference, or NULL: with the error set, or without
     * one when o has no such attribute (the strategy deleted it). */
    static PyObject* admf_attr(PyObject* o, PyObject* name)
    {
        PyObject* v = PyObject_GetAttr(o, name);
        if (v == NULL && PyErr_ExceptionMatches(PyExc_AttributeError))
            PyErr_Clear();
        return v;
    }
    """
    object admf_head(object arr, cnp.npy_intp length)
    PyObject* admf_attr(PyObject* o, PyObject* name) except? NULL
    bint admf_regrow(PyObject* v, PyObject* root, cnp.npy_intp length, Py_ssize_t owners)
    bint admf_regrow_columns(object cache, cnp.npy_intp length)
    bint ADMF_REGROW
    bint admf_internals
    int admf_internals_init() noexcept


admf_internals_init()   # docs/internals.md: ADMF_PERF_PORTABLE=1 turns the internals off


def _internals_in_use():
    """Which CPython internals this module uses (docs/internals.md); all
    False under ADMF_PERF_PORTABLE=1."""
    return {"view_regrow": bool(ADMF_REGROW and admf_internals)}


cdef tuple _PLAIN = (np.ndarray,)        # held: _plain's pointers stay valid
cdef PyObject* _plain[4]                # the same types, compared by pointer
cdef Py_ssize_t _nplain = 0
cdef object _Series = pd.Series
cdef object _Number = Number


def set_array_types(*types):
    """``crossover`` indexes ndarrays of these types (and plain ndarrays) as
    they are (at most three types)."""
    global _PLAIN, _nplain
    if len(types) > 3 or not all(isinstance(t, type) and issubclass(t, np.ndarray) for t in types):
        raise TypeError("set_array_types: at most three ndarray subclasses")
    _PLAIN = tuple(reversed(types)) + (np.ndarray,)     # the most derived first
    _nplain = len(_PLAIN)
    for k in range(_nplain):
        _plain[k] = <PyObject*>_PLAIN[k]


set_array_types()


cdef Py_ssize_t _ROWS_MAX = 16
#: array_iter: at most this many rows are made at once (read-only: a copy of
#: the C constant array_iter reads).
ROWS_MAX = _ROWS_MAX
cdef object _ndarray_iter = np.ndarray.__iter__


def array_iter(arr):
    """``iter(arr)`` for the engine's arrays (``_Array.__iter__``): an array
    of two dimensions or more and at most ``ROWS_MAX`` rows is iterated over a
    list of its rows, made as ndarray's own iteration makes them (the same
    views, of the same type). ndarray's iterator ends on an IndexError, which
    costs about half a microsecond: ``upper, lower = self.bb``, every bar.
    Anything else: ndarray's iterator (the items of a 1-D array are taken as
    it goes, as before)."""
    cdef Py_ssize_t i, n
    if not cnp.PyArray_Check(arr) or cnp.PyArray_NDIM(<cnp.ndarray>arr) < 2:
        return _ndarray_iter(arr)
    n = cnp.PyArray_DIM(<cnp.ndarray>arr, 0)
    if n > _ROWS_MAX:
        return _ndarray_iter(arr)
    return iter([PySequence_GetItem(arr, i) for i in range(n)])


cdef inline bint _is_plain(object a) noexcept:
    cdef PyObject* t = <PyObject*>Py_TYPE(a)
    cdef Py_ssize_t k
    for k in range(_nplain):
        if _plain[k] == t:
            return True
    return False


cdef inline bint _last_two(object a, double* prev, double* last) noexcept:
    """The last two values of a 1-D float64 ndarray of an accepted type
    (False: not one, or fewer than two values)."""
    cdef cnp.ndarray arr
    cdef cnp.npy_intp n, stride
    cdef char* data
    if not _is_plain(a):
        return False
    arr = <cnp.ndarray>a
    if cnp.PyArray_NDIM(arr) != 1 or cnp.PyArray_TYPE(arr) != cnp.NPY_DOUBLE:
        return False
    if not cnp.PyArray_ISALIGNED(arr) or cnp.PyArray_ISBYTESWAPPED(arr):
        return False
    n = cnp.PyArray_DIM(arr, 0)
    if n < 2:
        return False
    stride = cnp.PyArray_STRIDE(arr, 0)
    data = <char*>cnp.PyArray_DATA(arr)
    prev[0] = (<double*>(data + (n - 2) * stride))[0]
    last[0] = (<double*>(data + (n - 1) * stride))[0]
    return True


@cython.wraparound(True)     # series[-2] on any sequence: Python's indexing
@cython.boundscheck(True)
cpdef bint crossover(object series1, object series2) except -1:
    """True if ``series1`` just crossed over (above) ``series2``: below it on
    the previous bar and above it on this one (backtesting.py's
    ``backtesting.lib.crossover``: a number is a constant series, a pandas
    Series its values, fewer than two values never cross)."""
    cdef double p1, l1, p2, l2
    if _last_two(series1, &p1, &l1) and _last_two(series2, &p2, &l2):
        return p1 < p2 and l1 > l2
    if not _is_plain(series1) or not _is_plain(series2):
        series1 = (series1.values if isinstance(series1, _Series) else
                   (series1, series1) if isinstance(series1, _Number) else series1)
        series2 = (series2.values if isinstance(series2, _Series) else
                   (series2, series2) if isinstance(series2, _Number) else series2)
    try:
        return bool(series1[-2] < series2[-2] and series1[-1] > series2[-1])
    except IndexError:
        return False


cdef extern from *:
    """
    /* crossover as a builtin function (METH_FASTCALL | METH_KEYWORDS, public
     * API): the interpreter specializes calls to those, not to Cython's
     * function objects.  Two positional arguments go straight to the C
     * function; any other call to Cython's own (its errors, its keywords). */
    static PyObject* (*admf_crossover_impl)(PyObject*, PyObject*) = NULL;
    static PyObject* admf_crossover_slow = NULL;

    static PyObject* admf_crossover_fast(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                                         PyObject* kwnames)
    {
        if (kwnames == NULL && nargs == 2)
            return admf_crossover_impl(args[0], args[1]);
        return PyObject_Vectorcall(admf_crossover_slow, args, (size_t)nargs, kwnames);
    }

    static PyMethodDef admf_crossover_def = {
        "crossover", (PyCFunction)(void(*)(void))admf_crossover_fast, METH_FASTCALL | METH_KEYWORDS, NULL};

    /* The builtin; `doc` (text signature and docstring) is kept alive by the
     * module's reference to the result. */
    static PyObject* admf_builtin_crossover(PyObject* slow, void* impl, PyObject* doc, PyObject* module)
    {
        const char* text = PyUnicode_AsUTF8(doc);
        if (text == NULL)
            return NULL;
        Py_INCREF(slow);
        Py_XSETREF(admf_crossover_slow, slow);
        admf_crossover_impl = (PyObject* (*)(PyObject*, PyObject*))impl;
        admf_crossover_def.ml_doc = text;
        return PyCFunction_NewEx(&admf_crossover_def, NULL, module);
    }
    """
    object admf_builtin_crossover(object slow, void* impl, object doc, object module)


cdef object _crossover_object(object series1, object series2):
    return crossover(series1, series2)


_CROSSOVER_DOC = "crossover(series1, series2)\n--\n\n" + crossover.__doc__
crossover = admf_builtin_crossover(crossover, <void*>_crossover_object, _CROSSOVER_DOC, __name__)


def run_bars(object strategy, object data, object broker, list flat, list stacked,
             Py_ssize_t start, Py_ssize_t n, object equity, list closes):
    """Bars ``start`` to ``n - 1``: for each, reveal it (``data._shown[0]``, the
    indicators in ``flat`` (1-D) and ``stacked`` (2-D) written into the
    strategy's attributes as views up to it), fill the broker's pending
    orders, record ``equity[i]`` (cash plus the position at the close) and,
    while it is above zero, call ``strategy.next()``.  False when the money ran
    out (the broker has closed everything, as backtesting.py), else True."""
    cdef dict cache = data._cache
    cdef list shown_cell = _cell(data, "_shown")    # list items, not attributes: no setattr per bar
    cdef list bar_cell = _cell(broker, "_bar")
    cdef list ints = _bar_ints(n)                   # the bar numbers as ints, made once
    cdef list orders = broker.orders
    cdef object process_orders = broker._process_orders
    cdef BrokerCore core = broker if isinstance(broker, BrokerCore) else None
    cdef object strategy_next = strategy.next
    cdef Py_ssize_t i, k
    cdef object value, pair
    cdef Py_ssize_t stop
    cdef double[::1] equity_at = equity             # a float64 array: written in C
    cdef double v
    if n > equity_at.shape[0] or n > PyList_GET_SIZE(closes) or start < 0:
        raise ValueError("run_bars: n exceeds the equity array or the closes list, or start < 0")
    cdef list pairs = flat + stacked                # the run's own copy: read in C
    cdef Py_ssize_t nviews = PyList_GET_SIZE(pairs)
    cdef list views = [None] * nviews               # the view shown of each, last bar
    cdef object name
    cdef PyObject* shown
    cdef bint grown
    cdef double held_at[3]                          # cash, position size, position cost
    cdef bint held = _position(broker, held_at)
    cdef PyObject* close
    cdef object stop_obj, i_obj = start
    cdef PyObject* view
    for pair in pairs:
        if type(pair) is not tuple or len(pair) != 2 or not isinstance(pair[1], np.ndarray):
            raise TypeError("run_bars: flat and stacked hold (name, ndarray) pairs")
    for i in range(start, n):
        # the lists are this engine's own, but a strategy can reach anything:
        # never read past their ends
        if i >= PyList_GET_SIZE(closes):
            raise RuntimeError("run_bars: the closes list shrank during the run")
        stop = i + 1
        if stop < PyList_GET_SIZE(ints):
            stop_obj = <object>PyList_GET_ITEM(ints, stop)
        else:
            stop_obj = stop
        _cell_set(shown_cell, stop_obj)
        if cache and not admf_regrow_columns(cache, stop):   # the columns read last bar, grown
            cache.clear()
        for k in range(nviews):                     # ind[..., :i + 1]
            pair = <object>PyList_GET_ITEM(pairs, k)
            name = <object>PyTuple_GET_ITEM(pair, 0)
            shown = admf_attr(<PyObject*>strategy, <PyObject*>name)
            view = PyList_GET_ITEM(views, k)
            # last bar's view, if only the attribute, `views` and `shown` hold it
            grown = shown == view and admf_regrow(view, PyTuple_GET_ITEM(pair, 1), stop, 3)
            Py_XDECREF(shown)
            if not grown:
                value = admf_head(<object>PyTuple_GET_ITEM(pair, 1), stop)
                PyObject_SetAttr(strategy, name, value)
                views[k] = value
                value = None                        # held by the attribute and `views` only
        _cell_set(bar_cell, i_obj)
        i_obj = stop_obj                            # the next bar's i: one int made per bar
        if orders:
            if core is not None:
                core._process()
            else:
                process_orders()
            held = _position(broker, held_at)
        close = PyList_GET_ITEM(closes, i)
        if held and PyFloat_CheckExact(<object>close):   # Python's double arithmetic, in C
            v = held_at[0] + (PyFloat_AS_DOUBLE(<object>close) * held_at[1] - held_at[2])
        else:
            v = broker._cash + ((<object>close) * broker._pos_size - broker._pos_cost)
        equity_at[i] = v
        if v <= 0:
            broker._out_of_money(i, equity)
            return False
        strategy_next()
    return True


# -- what a strategy reads every bar: installed as its classes' methods -------
# (``Strategy.equity = property(strategy_equity)``, ``_Data.Close =
# Column("Close")``, ``_Data.__len__ = data_len``): no Python frame.

cdef class Column:
    """``_Data.<name>`` (a data descriptor, read-only as a property): the
    column revealed so far, from the bar's cache (``data._cache``), else made
    by ``data._get``."""

    def __init__(self, str name):
        self.name = name

    def __get__(self, data, owner):
        if data is None:
            return self
        cache = data._cache
        arr = cache.get(self.name) if type(cache) is not dict else (<dict>cache).get(self.name)
        return data._get(self.name) if arr is None else arr

    def __set__(self, data, value):
        raise AttributeError(f"column {self.name!r} of the data is read-only")

    def __delete__(self, data):
        raise AttributeError(f"column {self.name!r} of the data is read-only")


@cython.boundscheck(True)      # the engine's one-item list, but a strategy can reach it
@cython.wraparound(True)
def data_len(data):
    """``len(self.data)``: the bars revealed."""
    return data._shown[0]


@cython.boundscheck(True)
@cython.wraparound(True)
def strategy_equity(strategy):
    """``Strategy.equity``: cash plus the open position marked at the current close."""
    cdef BrokerCore b
    broker = strategy._broker
    if isinstance(broker, BrokerCore):
        b = <BrokerCore>broker
        return b._cash + (b._close_list[b._bar[0]] * b._pos_size - b._pos_cost)
    return broker._cash + (broker._close_list[broker._bar[0]] * broker._pos_size - broker._pos_cost)


def strategy_orders(strategy):
    """``Strategy.orders``: the orders waiting for the next fill."""
    return tuple(strategy._broker.orders)


def strategy_trades(strategy):
    """``Strategy.trades``: the open trades."""
    return tuple(strategy._broker.trades)


def strategy_closed_trades(strategy):
    """``Strategy.closed_trades``: the closed trades."""
    return tuple(strategy._broker.closed_trades)


cdef list _INTS = [0]
cdef Py_ssize_t _INTS_MAX = 1 << 16


cdef list _bar_ints(Py_ssize_t n):
    """The ints 0 .. min(n, 65,536), one list shared by every run (a search
    runs the same bars again and again; 2.4 MB at most)."""
    global _INTS
    cdef Py_ssize_t m = min(n, _INTS_MAX) + 1
    if PyList_GET_SIZE(_INTS) < m:
        _INTS = list(range(m))
    return _INTS


cdef inline void _cell_set(list cell, object value) noexcept:
    """cell[0] = value (a list of one item: checked when the loop starts; a
    strategy emptying it is met with the check below, not a write past it)."""
    cdef PyObject* old
    if PyList_GET_SIZE(cell) < 1:
        return
    old = PyList_GET_ITEM(cell, 0)
    Py_INCREF(value)
    PyList_SET_ITEM(cell, 0, value)
    Py_XDECREF(old)


cdef inline bint _number(object o, double* out):
    """An exact float or int as the double Python's arithmetic with a float
    uses (an int through PyLong_AsDouble); False for anything else."""
    if PyFloat_CheckExact(o):
        out[0] = PyFloat_AS_DOUBLE(o)
        return True
    if PyLong_CheckExact(o):
        out[0] = PyLong_AsDouble(o)
        if out[0] == -1.0 and PyErr_Occurred() != NULL:
            PyErr_Clear()                   # too large: Python's arithmetic raises it
            return False
        return True
    return False


cdef bint _position(object broker, double* at):
    """The broker's cash, position size and cost as doubles (they change
    only when it fills orders): False when one is not an exact float or
    int (then the bar's equity is computed with Python's operators)."""
    cdef BrokerCore b
    if isinstance(broker, BrokerCore):
        b = <BrokerCore>broker
        return _number(b._cash, &at[0]) and _number(b._pos_size, &at[1]) and _number(b._pos_cost, &at[2])
    return _number(broker._cash, &at[0]) and _number(broker._pos_size, &at[1]) and _number(broker._pos_cost, &at[2])


cdef inline object _size_of(object broker):
    """``broker._pos_size``, read from the field when it is a BrokerCore."""
    if isinstance(broker, BrokerCore):
        return (<BrokerCore>broker)._pos_size
    return broker._pos_size


@cython.boundscheck(True)      # b._bar[0]: the engine's one-item list, but a strategy can reach it
@cython.wraparound(True)
cdef class PositionCore:
    """The open position's truth value and numbers, read from its broker
    (``_pos_size``, ``_pos_cost``, ``_pos_value``, the close of bar
    ``_bar[0]``): the base of ``Strategy.position``'s class (twin:
    ``_strategy_py.PositionCore``)."""

    def __init__(self, broker):
        self._broker = broker

    def __bool__(self):
        return _size_of(self._broker) != 0

    @property
    def size(self):
        """Units held: positive long, negative short, 0 flat."""
        return _size_of(self._broker)

    @property
    def pl(self):
        """Unrealized profit or loss in cash, at the current close."""
        cdef BrokerCore c
        b = self._broker
        if isinstance(b, BrokerCore):
            c = <BrokerCore>b
            return c._close_list[c._bar[0]] * c._pos_size - c._pos_cost
        return b._close_list[b._bar[0]] * b._pos_size - b._pos_cost

    @property
    def pl_pct(self):
        """``pl`` in percent of what the open trades cost."""
        cdef BrokerCore c
        b = self._broker
        if isinstance(b, BrokerCore):
            c = <BrokerCore>b
            total = c._pos_value
            return ((c._close_list[c._bar[0]] * c._pos_size - c._pos_cost) / total) * 100 if total else 0
        total = b._pos_value
        return ((b._close_list[b._bar[0]] * b._pos_size - b._pos_cost) / total) * 100 if total else 0

    @property
    def is_long(self):
        return _size_of(self._broker) > 0

    @property
    def is_short(self):
        return _size_of(self._broker) < 0

    def close(self, portion=1.0):
        """Close ``portion`` of every open trade at the next fill."""
        for trade in self._broker.trades:
            if isinstance(trade, TradeCore):
                (<TradeCore>trade)._close(portion)
            else:
                trade.close(portion)


# -- the broker: backtesting.py's, market orders only --------------------------
# The cores of ``admf_perf.research._broker``'s classes (``Order(_OrderMethods,
# OrderCore)``, ...): the fields, and what the broker runs for every order, the
# twin's statements on the same Python objects (its numbers' arithmetic is
# Python's: ints stay ints, floats' operations are the same doubles), with no
# Python frame, no attribute looked up by name and no bound method made.

#: warnings.warn's stacklevel for a cancelled order: the caller of
#: ``Backtest.run`` (the frames above this module's: Backtest._run,
#: Backtest.run).
cdef int _STACKLEVEL = 3
_warn = warnings.warn


cdef inline OrderCore _order(object o):
    """An item of the broker's orders, checked to be one (a strategy can put
    anything in the list: a clear error, never a wrong fill)."""
    if isinstance(o, OrderCore):
        return <OrderCore>o
    raise TypeError(f"the broker's orders hold a {type(o).__name__}, not an order")


cdef inline TradeCore _trade(object o):
    """An item of the broker's trades, checked to be one."""
    if isinstance(o, TradeCore):
        return <TradeCore>o
    raise TypeError(f"the broker's trades hold a {type(o).__name__}, not a trade")


cdef class CommissionCore:
    """``fixed + |size| * price * relative``: backtesting.py's commission of a
    number or a ``(fixed, relative)`` tuple."""

    def __init__(self, fixed, relative):
        self.fixed = fixed
        self.relative = relative

    def __call__(self, order_size, price):
        return self.fixed + abs(order_size) * price * self.relative


cdef class OrderCore:
    """A market order waiting for the next fill: its size (a float: units,
    negative for a sell; in (0, 1) a fraction of equity), the trade it
    closes (or None), its tag."""

    def __init__(self, broker, size, parent_trade=None, tag=None):
        self._set(broker, float(size), parent_trade, tag)

    cdef void _set(self, object broker, object size, object parent_trade, object tag) noexcept:
        self._broker = broker
        self._size = size
        self._parent_trade = parent_trade
        self._tag = tag

    def cancel(self):
        """Cancel the order."""
        self._broker.orders.remove(self)


cdef extern from *:
    """
    /* base.__new__(type) for a subclass `type` of `base`, one of this
     * module's types: its tp_new (the base's, which sets the fields to None),
     * no lookup of __new__ and no call through Python.  A TypeError for
     * anything else (a broker made by __new__ alone has None there). */
    static PyObject* admf_new(PyObject* type, PyTypeObject* base)
    {
        PyObject* args;
        PyObject* o;
        if (!PyType_Check(type) || !PyType_IsSubtype((PyTypeObject*)type, base)) {
            PyErr_Format(PyExc_TypeError, "the broker makes %s objects of a subclass of it: initialize it first",
                         base->tp_name);
            return NULL;
        }
        args = PyTuple_New(0);
        if (args == NULL)
            return NULL;
        o = ((PyTypeObject*)type)->tp_new((PyTypeObject*)type, args, NULL);
        Py_DECREF(args);
        return o;
    }
    """
    object admf_new(object t, type base)


cdef OrderCore _new_order(BrokerCore broker, object size, object parent_trade, object tag):
    """An order of the broker's order type, its fields set here (the type is
    checked to be OrderCore's when the broker is made)."""
    cdef OrderCore o = <OrderCore>admf_new(broker._order_type, OrderCore)
    o._set(broker, size, parent_trade, tag)
    return o


cdef TradeCore _new_trade(BrokerCore broker, object size, object entry_price, object entry_bar, object tag):
    """A trade of the broker's trade type (checked to be TradeCore's when the
    broker is made), its fields set as ``TradeCore.__init__`` sets them."""
    cdef TradeCore t = <TradeCore>admf_new(broker._trade_type, TradeCore)
    t._set(broker, size, entry_price, entry_bar, tag)
    return t


@cython.boundscheck(True)      # the broker's lists: the engine's, but a strategy can reach them
@cython.wraparound(True)
cdef inline object _last_price(object broker):
    """``broker.last_price``: the close of bar ``_bar[0]``."""
    cdef BrokerCore b
    if isinstance(broker, BrokerCore):
        b = <BrokerCore>broker
        return b._close_list[b._bar[0]]
    return broker.last_price


cdef class TradeCore:
    """An open or closed trade: size (an int when opened, a float once
    reduced), entry and exit, commissions (counted once it closed)."""

    def __init__(self, broker, size, entry_price, entry_bar, tag):
        self._set(broker, size, entry_price, entry_bar, tag)

    cdef void _set(self, object broker, object size, object entry_price, object entry_bar, object tag) noexcept:
        self._broker = broker
        self._size = size
        self._entry_price = entry_price
        self._exit_price = None
        self._entry_bar = entry_bar
        self._exit_bar = None
        self._tag = tag
        self._commissions = 0

    def _copy(self, size):
        if not isinstance(self._broker, BrokerCore):
            raise TypeError("Trade._copy: the trade's broker is not a BrokerCore")
        return self._copy_in(<BrokerCore>self._broker, size)

    cdef TradeCore _copy_in(self, BrokerCore broker, object size):
        """This trade with ``size`` units, a new trade of ``broker``'s type."""
        cdef TradeCore t = _new_trade(broker, size, self._entry_price, self._entry_bar, self._tag)
        t._exit_price, t._exit_bar, t._commissions = self._exit_price, self._exit_bar, self._commissions
        return t

    def close(self, portion=1.0):
        """Place an order closing ``portion`` of the trade at the next fill."""
        self._close(portion)

    cdef int _close(self, object portion) except -1:
        cdef double size
        cdef BrokerCore b
        if not 0 < portion <= 1:
            raise _BadArgument(f"portion must be a fraction in (0, 1], got {portion!r}")
        size = copysign(max(1, int(round(abs(self._size) * portion))), -self._size)
        if isinstance(self._broker, BrokerCore):
            b = <BrokerCore>self._broker
            b.orders.insert(0, _new_order(b, size, self, self._tag))
        else:
            b_ = self._broker
            b_.orders.insert(0, b_._order_type(b_, size, self, self._tag))
        return 0

    cdef object _pl(self):
        price = self._exit_price or _last_price(self._broker)
        return (self._size * (price - self._entry_price)) - self._commissions

    @property
    def pl(self):
        """Profit or loss in cash (commissions counted once the trade closed)."""
        return self._pl()

    @property
    def pl_pct(self):
        """Return as a fraction of the entry price, net of commissions."""
        price = self._exit_price or _last_price(self._broker)
        entry = self._entry_price
        if not entry:   # a trade entered at 0 (bad data): backtesting.py's float64 division, inf or NaN
            entry = _float64(entry)
        gross = copysign(1, self._size) * (price / entry - 1)
        return gross - self._commissions / (abs(self._size) * entry)

    @property
    def value(self):
        price = self._exit_price or _last_price(self._broker)
        return abs(self._size) * price


@cython.boundscheck(True)      # the broker's lists: the engine's, but a strategy can reach them
@cython.wraparound(True)
cdef class BrokerCore:
    """backtesting.py's broker, market orders only (margin 1, no spread, no
    hedging): the pending orders, the open and closed trades, the cash, and
    the position's size, cost and value, summed again only when the open
    trades change.  ``order_type`` and ``trade_type`` are the classes it
    makes (OrderCore's and TradeCore's subclasses)."""

    def __init__(self, list close, list open_, index, cash, commission, bint trade_on_close,
                 bint exclusive_orders, order_type, trade_type):
        if not (isinstance(order_type, type) and issubclass(order_type, OrderCore)
                and isinstance(trade_type, type) and issubclass(trade_type, TradeCore)):
            raise TypeError("BrokerCore: order_type and trade_type must be OrderCore's and TradeCore's subclasses")
        self._close_list = close
        self._open_list = open_
        self._index = index
        self._cash = cash
        self._commission = commission
        if isinstance(commission, CommissionCore) and type(commission).__call__ is CommissionCore.__call__:
            self._comm = <CommissionCore>commission     # its fee computed here, as its __call__
            self._fee = commission.__call__
        else:
            self._comm = None
            self._fee = commission
        self._trade_on_close = trade_on_close
        self._exclusive_orders = exclusive_orders
        self._order_type = order_type
        self._trade_type = trade_type
        self._bar = [0]
        self._backtest = None
        self.orders = []
        self.trades = []
        self.closed_trades = []
        self.position = None
        self._pos_size = 0
        self._pos_cost = 0
        self._pos_value = 0

    cdef object _fee_of(self, object size, object price):
        cdef CommissionCore c = self._comm
        if c is not None:
            return c.fixed + abs(size) * price * c.relative
        return self._fee(size, price)

    cdef int _changed(self) except -1:
        # the twin's loop (backtesting.py's sum() from int 0, left to right)
        cdef object size = 0, cost = 0, value = 0, s, price
        cdef TradeCore t
        for o in self.trades:
            t = _trade(o)
            s, price = t._size, t._entry_price
            size += int(s)
            cost = cost + s * price
            value = value + abs(s) * price
        self._pos_size, self._pos_cost, self._pos_value = size, cost, value
        return 0

    def _trades_changed(self):
        self._changed()

    @property
    def last_price(self):
        return self._close_list[self._bar[0]]

    @property
    def equity(self):
        return self._cash + (self._close_list[self._bar[0]] * self._pos_size - self._pos_cost)

    cdef object _margin(self):
        last = self._close_list[self._bar[0]]
        cdef object margin_used = 0
        for o in self.trades:
            margin_used = margin_used + abs(_trade(o)._size) * last / 1.0
        return max(0, self._cash + (last * self._pos_size - self._pos_cost) - margin_used)

    def _margin_available(self):
        return self._margin()

    def new_order(self, size, tag):
        cdef OrderCore order = _new_order(self, float(size), None, tag)
        if self._exclusive_orders:
            for o in self.orders:  # backtesting.py's loop over the live list: it skips every other order
                o.cancel()
            for t in self.trades:
                t.close()
        self.orders.append(order)
        return order

    def _process_orders(self):
        self._process()

    cdef int _process(self) except -1:
        cdef object i = self._bar[0], price, time_index, trade, size, order_size, adjusted
        cdef object price_plus_commission, margin, need_size
        cdef list orders = self.orders
        cdef OrderCore order
        cdef TradeCore t
        cdef bint is_long
        if self._trade_on_close:
            price = self._close_list[i - 1]
            time_index = i - 1
        else:
            price = self._open_list[i]
            time_index = i
        for o in tuple(orders):                 # a snapshot (the twin's list(): the same items)
            if o not in orders:
                continue
            order = _order(o)
            order_size = order._size
            trade = order._parent_trade
            if trade is not None:
                size = copysign(min(abs(trade._size), abs(order_size)), order_size)
                if trade in self.trades:
                    self._reduce_trade(_trade(trade), price, size, time_index)
                orders.remove(order)
                continue
            # backtesting.py's _adjusted_price with no spread: a zero price is the
            # last close, times 1.0 (1 + copysign(0, size)): an int price is a float
            adjusted = (price or self._close_list[i]) * 1.0
            price_plus_commission = adjusted + self._fee_of(order_size, price) / abs(order_size)
            size = order_size
            margin = None       # the margin available, while no trade has changed since
            if -1 < size < 1:
                margin = self._margin()
                size = copysign(int((margin * 1.0 * abs(size)) // price_plus_commission), size)
                if not size:
                    self._cancel(order, "relative-sized order", i, margin)
                    continue
            need_size = int(size)
            is_long = order_size > 0
            for o2 in tuple(self.trades):
                t = _trade(o2)
                if (t._size > 0) == is_long:
                    continue
                margin = None
                if abs(need_size) >= abs(t._size):
                    self._close_trade(t, price, time_index)
                    need_size += t._size
                else:
                    self._reduce_trade(t, price, need_size, time_index)
                    need_size = 0
                if not need_size:
                    break
            if margin is None:
                margin = self._margin()
            if abs(need_size) * price_plus_commission > margin * 1.0:
                self._cancel(order, "order", i, margin)
                continue
            if need_size:
                self._open_trade(adjusted, need_size, time_index, order._tag)
            orders.remove(order)
        return 0

    cdef int _cancel(self, OrderCore order, str what, object i, object margin) except -1:
        """Drop an order the margin cannot pay for, with backtesting.py's warning."""
        _warn(f"time={i}: Broker canceled the {what} due to insufficient margin "
              f"(equity={self.equity:.2f}, margin_available={margin:.2f}).", UserWarning, _STACKLEVEL)
        self.orders.remove(order)
        return 0

    cdef int _reduce_trade(self, TradeCore trade, object price, object size, object time_index) except -1:
        cdef TradeCore close_trade
        size_left = trade._size + size
        if not size_left:
            close_trade = trade
        else:
            trade._size = size_left
            close_trade = trade._copy_in(self, -size)
            self.trades.append(close_trade)
        return self._close_trade(close_trade, price, time_index)

    cdef int _close_trade(self, TradeCore trade, object price, object time_index) except -1:
        self.trades.remove(trade)
        trade._exit_price = price
        trade._exit_bar = time_index
        self.closed_trades.append(trade)
        commission = self._fee_of(trade._size, price)
        self._cash += trade._pl() - commission
        trade._commissions = commission + self._fee_of(trade._size, trade._entry_price)
        return self._changed()

    cdef int _open_trade(self, object price, object size, object time_index, object tag) except -1:
        self.trades.append(_new_trade(self, size, price, time_index, tag))
        self._changed()
        self._cash -= self._fee_of(size, price)
        return 0

    def next(self, i, equity_out):
        """One bar: fill the pending orders and record the equity; False
        when it is gone (backtesting.py then closes everything and stops)."""
        self._bar[0] = i
        if self.orders:
            self._process()
        equity = self._cash + (self._close_list[i] * self._pos_size - self._pos_cost)
        equity_out[i] = equity
        if equity <= 0:
            self._out_of_money(i, equity_out)
            return False
        return True

    def _out_of_money(self, i, equity_out):
        for trade in self.trades:  # backtesting.py's loop, which removes as it goes
            self._close_trade(_trade(trade), self._close_list[i], i)
        self._cash = 0
        for k in range(i, len(equity_out)):
            equity_out[k] = 0
