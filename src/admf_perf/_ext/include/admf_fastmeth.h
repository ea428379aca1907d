/* Methods as plain METH_FASTCALL[ | METH_KEYWORDS] method descriptors made
 * with PyDescr_NewMethod (public API). CPython specializes a call of such a
 * descriptor on its exact type (CALL_METHOD_DESCRIPTOR_FAST_WITH_KEYWORDS);
 * Cython 3's def methods are cython_function_or_method objects, whose calls
 * take the generic path, and its binding=False methods parse their
 * arguments in general code. _cache.pyx: Cache.get and Cache.set, set on a
 * Python subclass (public API). _timeseries.pyx (TimeSeriesArray.append) and
 * _indicators.pyx (every class's update): written into a compiled type's
 * dict, an internal (docs/internals.md, admf_type_set_method).
 */
#ifndef ADMF_FASTMETH_H
#define ADMF_FASTMETH_H

#include <Python.h>

/* Bind a call's arguments to the parameters names[0..n) (n <= 64), the
 * first nreq required: out[i] gets a borrowed reference, and keeps what the
 * caller put there (its default) when the parameter is not given. The
 * errors are CPython's own for a Python function. */
static int admf_bind_args(const char* fname, const char* const* names,
                          Py_ssize_t nreq, Py_ssize_t n,
                          PyObject* const* args, Py_ssize_t nargs,
                          PyObject* kwnames, PyObject** out)
{
    Py_ssize_t i, j, nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    unsigned long long given = 0;
    if (nargs > n) {
        PyErr_Format(PyExc_TypeError,
                     "%s() takes from %zd to %zd positional arguments but %zd were given",
                     fname, nreq + 1, n + 1, nargs + 1);
        return -1;
    }
    for (i = 0; i < nargs; i++) {
        out[i] = args[i];
        given |= 1ULL << i;
    }
    for (j = 0; j < nkw; j++) {
        PyObject* kw = PyTuple_GET_ITEM(kwnames, j);
        for (i = 0; i < n; i++) {
            if (PyUnicode_CompareWithASCIIString(kw, names[i]) == 0)
                break;
        }
        if (i == n) {
            PyErr_Format(PyExc_TypeError,
                         "%s() got an unexpected keyword argument '%U'", fname, kw);
            return -1;
        }
        if (given & (1ULL << i)) {
            PyErr_Format(PyExc_TypeError,
                         "%s() got multiple values for argument '%s'", fname, names[i]);
            return -1;
        }
        out[i] = args[nargs + j];
        given |= 1ULL << i;
    }
    for (i = 0; i < nreq; i++) {
        if (!(given & (1ULL << i))) {
            PyErr_Format(PyExc_TypeError,
                         "%s() missing required argument '%s'", fname, names[i]);
            return -1;
        }
    }
    return 0;
}

/* Write the method descriptor of `def` (static storage) into the dict of the
 * compiled type `type` under def->ml_name: the internal of docs/internals.md
 * (a static type's dict is not writable through setattr). */
static int admf_type_set_method(PyObject* type, PyMethodDef* def)
{
    int r;
    PyObject* d = PyDescr_NewMethod((PyTypeObject*)type, def);
    if (d == NULL)
        return -1;
    r = PyDict_SetItemString(((PyTypeObject*)type)->tp_dict, def->ml_name, d);
    Py_DECREF(d);
    PyType_Modified((PyTypeObject*)type);
    return r;
}

/* A method descriptor of `def` for `type`, calling `impl` (a
 * PyCFunctionFastWithKeywords for the METH_FASTCALL | METH_KEYWORDS defs
 * this is used with). `def` has static storage; every descriptor made from
 * it calls the last `impl` given (one per def). */
static PyObject* admf_fast_method(PyObject* type, PyMethodDef* def, void* impl)
{
    def->ml_meth = (PyCFunction)(void(*)(void))impl;
    return PyDescr_NewMethod((PyTypeObject*)type, def);
}

/* 1 when d is a method descriptor made from `def` (by admf_fast_method). */
static inline int admf_is_fast(PyObject* d, PyMethodDef* def)
{
    return Py_IS_TYPE(d, &PyMethodDescr_Type) && ((PyMethodDescrObject*)d)->d_method == def;
}

/* callable(self, *args, **kw) from a METH_FASTCALL | METH_KEYWORDS call
 * (args: nargs positionals, then the values of kwnames). */
static PyObject* admf_call_with_self(PyObject* callable, PyObject* self, PyObject* const* args,
                                     Py_ssize_t nargs, PyObject* kwnames)
{
    PyObject* small[8];
    PyObject** stack = small;
    PyObject* r;
    Py_ssize_t n = nargs + (kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames));
    if (n + 1 > 8) {
        stack = (PyObject**)PyMem_Malloc((size_t)(n + 1) * sizeof(PyObject*));
        if (stack == NULL)
            return PyErr_NoMemory();
    }
    stack[0] = self;
    if (n > 0)
        memcpy(stack + 1, args, (size_t)n * sizeof(PyObject*));
    r = PyObject_Vectorcall(callable, stack, nargs + 1, kwnames);
    if (stack != small)
        PyMem_Free(stack);
    return r;
}

/* 1 and *out set when o is a float (or a subclass: numpy.float64); else 0. */
static inline int admf_float_arg(PyObject* o, double* out)
{
    if (!PyFloat_Check(o))
        return 0;
    *out = PyFloat_AS_DOUBLE(o);
    return 1;
}

/* 1 when the n values are all finite: x - x is 0 for a finite x and NaN for
   an infinity or a NaN, so one test of the sum answers for all of them (the
   update descriptors' check of their inputs: fewer instructions than one
   test per value; n is a constant there, the loop unrolled). Arrays have
   admf_all_finite (admf_ind.h), out of line and vectorized. */
static inline int admf_finite_n(const double* x, int n)
{
    double z = 0.0;
    int i;
    for (i = 0; i < n; i++)
        z += x[i] - x[i];
    return z == z;
}

/* 1 when o converts to a double as PyFloat_AsDouble converts (a float, an
 * int, or a type with __float__ or __index__); 0 otherwise, no error set. */
static inline int admf_real_arg(PyObject* o)
{
    PyNumberMethods* nb;
    if (PyFloat_Check(o) || PyLong_Check(o))
        return 1;
    nb = Py_TYPE(o)->tp_as_number;
    return nb != NULL && (nb->nb_float != NULL || nb->nb_index != NULL);
}

#endif /* ADMF_FASTMETH_H */
