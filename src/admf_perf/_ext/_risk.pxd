# cython: language_level=3
# Declarations of the compiled risk and position state (_risk.pyx), for
# cimport:
#
#     from admf_perf._ext._risk cimport RiskCore, PositionCore
#
# ``CachingRiskCalculator`` and ``IncrementalPositionTracker`` subclass these;
# the state is private (the twin, _risk_py.py, is the specification).
cimport cython


cdef extern from "admf_ostree.h":
    ctypedef struct admf_ost:
        int used


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
    cdef double peak            # of the equity (current_drawdown)
    cdef unsigned int have      # cached results: HAVE_* bits
    cdef double c_sharpe
    cdef double c_sortino
    cdef double c_vol
    # every raw return, in order (``n`` of ``rcap``): the metrics below read
    # them when asked, each from where it stopped (O(1) per return, or
    # O(log n) for the order statistics), so an update only stores one
    cdef double* rets
    cdef Py_ssize_t rcap
    cdef Py_ssize_t n_path      # returns read into growth, the drawdown and the stability sums
    cdef double growth          # prod(1 + r)
    cdef double p_peak          # running max of 100 * growth (100 at the start)
    cdef double mdd             # min of (100 * growth - p_peak) / p_peak: empyrical's max_drawdown
    cdef double s_cum           # sum of log1p(r): the cumulative log return
    cdef double s_mean          # Welford mean and M2 of s_cum, co-moment with the bar index
    cdef double s_m2
    cdef double s_co
    cdef admf_ost ost           # the returns read so far, sorted (order statistics)
    cdef double om_req[4]       # omega: up to 4 thresholds, each with its sums
    cdef double om_pos[4]
    cdef double om_neg[4]
    cdef Py_ssize_t om_n[4]
    cdef int om_used
    cdef int om_next
    # the benchmark (eager): 0 before the first update, 1 with one, 2 without
    cdef int bmode
    cdef double blevel          # last benchmark level, actual or implied
    cdef double bmean           # Welford of the benchmark returns
    cdef double bm2
    cdef double bco             # co-moment of the excess and benchmark returns
    cdef double amean           # Welford of the active returns r - b
    cdef double am2
    cdef object __weakref__

    cdef inline void _clear(self) noexcept
    cdef inline int _add(self, double r, double equity) except -1
    cdef int _bench_mode(self, object benchmark) except -1
    cdef inline void _add_bench(self, double b) noexcept
    cdef void _read_path(self) noexcept
    cdef int _read_sorted(self) except -1
    cdef Py_ssize_t _omega_slot(self, double required) noexcept
    cdef int _need_benchmark(self, str metric) except -1


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
