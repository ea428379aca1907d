# cython: language_level=3
# The C-level API of the compiled keys (_keys.pyx), for cimport:
#
#     from admf_perf._ext._keys cimport _generate_key, _digest_raw
#
#     key = _generate_key(args, kwargs, True)     # = generate_key(), no argument parsing
#
# Same rules as the Python functions (the twin, _keys_py.py, is the
# specification).

# generate_key(args, kwargs, include_self): kwargs a mapping or None
cdef tuple _generate_key(object args, object kwargs, bint include_self)

# digest() of a C-contiguous buffer exporter (bytes, a C-contiguous ndarray)
cdef bytes _digest_buffer(object obj)

# The digest of n raw bytes into out[16]; needs no GIL
cdef void _digest_raw(const unsigned char* p, Py_ssize_t n, unsigned char* out) noexcept nogil
