# cython: language_level=3, embedsignature=True
# cython: freethreading_compatible=True
"""Compiled hot path of ``bench/callgrind.py``: the measured region.

``measured_region(fn)`` calls ``fn()`` inside the C function
``admf_perf_bench_region``, and nothing else.  ``admf-perf bench
--instructions`` runs its workers under callgrind with
``--collect-atstart=no --toggle-collect=admf_perf_bench_region
--dump-after=admf_perf_bench_region``: events are counted only while that
function runs, and each call writes one dump.  Start-up, imports, set-up and
the warm-up call are never counted, and no valgrind header is needed to build
this module (callgrind finds the function by its symbol).

The function is ``noinline`` so the symbol stays a real call frame; a
compiler barrier keeps the call from being moved across its boundaries.

The C function is declared in ``_bench.pxd``.

Twin: ``_bench_py.py`` (calls ``fn()``; no symbol, so no deterministic mode).
"""


#: The symbol callgrind's ``--toggle-collect`` and ``--dump-after`` name.
REGION_SYMBOL = "admf_perf_bench_region"


def measured_region(fn):
    """Call ``fn()`` inside the measured region and return its result."""
    return admf_perf_bench_region(fn)
