/* Methods a Python subclass of a compiled class gets as plain
 * METH_FASTCALL | METH_KEYWORDS method descriptors, made for that subclass
 * with PyDescr_NewMethod (public API). CPython specializes a call of such a
 * descriptor on its exact type (CALL_METHOD_DESCRIPTOR_FAST_WITH_KEYWORDS);
 * Cython 3's def methods are cython_function_or_method objects, whose calls
 * take the generic path. _cache.pyx: Cache.get and Cache.set.
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

#endif /* ADMF_FASTMETH_H */
