# cython: language_level=3
# Declarations of the compiled risk and position state (_risk.pyx), for
# cimport:
#
#     from admf_perf._ext._risk cimport RiskCore, PositionCore
#
# ``CachingRiskCalculator`` and ``IncrementalPositionTracker`` subclass these;
# the state is private (the twin, _risk_py.py, is the specification).
cimport cython


cdef class RiskCore:
    cdef double ppy
    cdef double sqrt_ppy
    cdef double rf
    cdef bint has_rf
    cdef bint started           # an equity (actual or implied) exists
    cdef Py_ssize_t n           # number of returns
    cdef double mean            # Welford mean of the excess returns
    cdef public double _m2      # Welford M2 of the excess returns
    cdef double rmean           # Welford of the raw returns (risk_free != 0)
    cdef double rm2
    cdef public double _down    # sum of min(excess, 0) ** 2
    cdef double equity_         # last equity, actual or implied
    cdef double peak
    cdef double mdd             # most negative equity / peak - 1
    cdef unsigned int have      # cached results: HAVE_* bits
    cdef double c_sharpe
    cdef double c_sortino
    cdef double c_vol
    cdef object __weakref__

    cdef inline void _clear(self) noexcept
    cdef inline void _add(self, double r, double equity) noexcept


@cython.final
@cython.freelist(64)
cdef class _Pos:
    cdef double qty
    cdef double avg
    cdef double last
    cdef double realized


cdef class PositionCore:
    cdef dict state
    cdef double initial
    cdef double cash_
    cdef double mv          # sum of quantity * last_price
    cdef double upnl        # sum of quantity * (last_price - avg_price)
    cdef double realized    # sum of realized P&L (commissions included)
    cdef public double flat_tolerance
    # symbols seen by identity: slot -> (symbol object, its _Pos), an
    # open-addressing table in front of ``state`` (see _risk.pyx)
    cdef list _seen_keys
    cdef list _seen_pos
    cdef size_t _seen_mask
    cdef Py_ssize_t _seen_used
    cdef int _seen_shift

    cdef double _price_of(self, object symbol, object price) except? -1.0
    cdef _Pos _find(self, object symbol)
    cdef _Pos _insert(self, object symbol, double last)
    cdef int _seen(self, object symbol, _Pos s) except -1
    cdef inline void _seen_put(self, object symbol, object s) noexcept
    cdef int _seen_empty(self, int shift) except -1
