# cython: language_level=3
# Declarations of the compiled strategy hot paths (_strategy.pyx), for
# cimport:
#
#     from admf_perf._ext._strategy cimport crossover, PositionCore
#
# The twin, _strategy_py.py, is the specification.

cpdef bint crossover(object series1, object series2) except -1


cdef class PositionCore:
    cdef readonly object _broker
