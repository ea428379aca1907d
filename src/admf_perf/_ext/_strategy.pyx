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

from numbers import Number

import numpy as np
import pandas as pd

from admf_perf._ext._strategy_py import _cell    # the start-of-run check: the twin's, once per run

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
    return _number(broker._cash, &at[0]) and _number(broker._pos_size, &at[1]) and _number(broker._pos_cost, &at[2])


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
        return self._broker._pos_size != 0

    @property
    def size(self):
        """Units held: positive long, negative short, 0 flat."""
        return self._broker._pos_size

    @property
    def pl(self):
        """Unrealized profit or loss in cash, at the current close."""
        b = self._broker
        return b._close_list[b._bar[0]] * b._pos_size - b._pos_cost

    @property
    def pl_pct(self):
        """``pl`` in percent of what the open trades cost."""
        b = self._broker
        total = b._pos_value
        return ((b._close_list[b._bar[0]] * b._pos_size - b._pos_cost) / total) * 100 if total else 0

    @property
    def is_long(self):
        return self._broker._pos_size > 0

    @property
    def is_short(self):
        return self._broker._pos_size < 0
