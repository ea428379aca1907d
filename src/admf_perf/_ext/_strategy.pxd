# cython: language_level=3
# Declarations of the compiled strategy hot paths (_strategy.pyx), for
# cimport:
#
#     from admf_perf._ext._strategy cimport crossover, PositionCore, BrokerCore
#
# The twin, _strategy_py.py, is the specification.

cpdef bint crossover(object series1, object series2) except -1

cdef class BrokerCore                    # declared below; TradeCore's copy takes one


cdef class PositionCore:
    cdef readonly object _broker


cdef class Column:
    cdef readonly str name


cdef class CommissionCore:
    cdef public object fixed, relative


cdef class OrderCore:
    cdef public object _broker, _size, _parent_trade, _tag
    cdef void _set(self, object broker, object size, object parent_trade, object tag) noexcept


cdef class TradeCore:
    cdef public object _broker, _size, _entry_price, _exit_price, _entry_bar, _exit_bar, _tag, _commissions
    cdef void _set(self, object broker, object size, object entry_price, object entry_bar, object tag) noexcept
    cdef int _close(self, object portion) except -1
    cdef object _pl(self)
    cdef TradeCore _copy_in(self, BrokerCore broker, object size)


cdef class BrokerCore:
    cdef public list _close_list, _open_list, _bar, orders, trades, closed_trades
    cdef public object _index, _cash, _commission, _backtest, position, _pos_size, _pos_cost, _pos_value
    cdef readonly object _fee
    cdef readonly type _order_type, _trade_type
    cdef public bint _trade_on_close, _exclusive_orders
    cdef CommissionCore _comm
    cdef object _fee_of(self, object size, object price)
    cdef int _changed(self) except -1
    cdef object _margin(self)
    cdef int _process(self) except -1
    cdef int _cancel(self, OrderCore order, str what, object i, object margin) except -1
    cdef int _reduce_trade(self, TradeCore trade, object price, object size, object time_index) except -1
    cdef int _close_trade(self, TradeCore trade, object price, object time_index) except -1
    cdef int _open_trade(self, object price, object size, object time_index, object tag) except -1
