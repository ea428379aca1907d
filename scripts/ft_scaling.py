"""Throughput of two threads against one, on a free-threaded CPython
(docs/freethreading.md, "Scaling, measured"): wall-clock, best of 5, printed,
never a gate (the machines are shared and noisy).

    PYTHON_GIL=0 python3.13t scripts/ft_scaling.py
    PYTHON_GIL=0 python3.13t scripts/ft_scaling.py --banks   (every bank class, 400 and 2,000 bars)
"""
from __future__ import annotations

import sys
import threading
import time
import timeit
from collections.abc import Callable

import admf_perf as ap

N = 200_000
KEYS = list(range(512))
REPEAT = 5


def wall(n_threads: int, make_body: Callable[[int], Callable[[], None]]) -> float:
    """Seconds for ``n_threads`` threads, each running ``make_body(i)``,
    started together: from the first one's start to the last one's end, as
    the threads read the clock (the main thread, a third on two cores, may
    be scheduled late)."""
    bodies = [make_body(i) for i in range(n_threads)]
    barrier = threading.Barrier(n_threads)
    spans: list[tuple[float, float]] = []

    def run(body: Callable[[], None]) -> None:
        barrier.wait()
        t0 = time.perf_counter()
        body()
        spans.append((t0, time.perf_counter()))

    threads = [threading.Thread(target=run, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return max(e for _, e in spans) - min(s for s, _ in spans)


def scale(name: str, make_body: Callable[[int], Callable[[], None]], ops: int) -> None:
    one = ops / min(wall(1, make_body) for _ in range(REPEAT))
    two = 2 * ops / min(wall(2, make_body) for _ in range(REPEAT))
    print(f"{name:55s} 1 thread {one / 1e6:6.2f} M/s   2 threads {two / 1e6:6.2f} M/s   {two / one:.2f}x")


def over_keys(call: Callable[[int], object]) -> Callable[[], None]:
    def body() -> None:
        for _ in range(N // len(KEYS)):
            for k in KEYS:
                call(k)
    return body


def main() -> None:
    ops = (N // len(KEYS)) * len(KEYS)
    shared = ap.cached(max_size=1024)(lambda k: k)
    own = [ap.cached(max_size=1024)(lambda k: k) for _ in range(2)]
    cache = ap.Cache(max_size=1024)
    for k in KEYS:
        shared(k)
        own[0](k)
        own[1](k)
        cache[k] = k
    scale("cached hits, one function shared by both threads", lambda i: over_keys(shared), ops)
    scale("cached hits, a function per thread", lambda i: over_keys(own[i]), ops)
    scale("Cache.get hits, one cache shared", lambda i: over_keys(cache.get), ops)
    table = {k: k for k in KEYS}
    scale("  anchor: dict.get hits, one dict shared", lambda i: over_keys(table.get), ops)
    shared_map(shared, own, cache, table)
    smas = [ap.SMA(20) for _ in range(2)]

    def updates(i: int) -> Callable[[], None]:
        update = smas[i].update

        def body() -> None:
            for _ in range(N):
                update(1.5)
        return body

    scale("SMA.update, an indicator per thread", updates, N)
    banks(("SMA",), (2_000,))
    searches()
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    print(f"GIL enabled: {gil}")


def shared_map(shared, own, cache, table) -> None:
    """The same hits driven from C (``map`` over each thread's own key
    objects, results dropped by a ``deque``): the interpreter then takes no
    reference to the shared function and the keys per call. In a Python loop
    each call increments and decrements the callable's reference count, an
    atomic operation on a line both threads write on a free-threaded 3.13,
    which bounds any shared callable (the dict's row above)."""
    from collections import deque

    keys = [[int(str(k)) for k in KEYS] for _ in range(2)]       # each thread its own int objects
    rounds = N // len(KEYS)

    def driven(fn):
        def make(i):
            ks = keys[i]

            def body() -> None:
                for _ in range(rounds):
                    deque(map(fn, ks), maxlen=0)
            return body
        return make

    ops = rounds * len(KEYS)
    scale("cached hits from C, one function shared", driven(shared), ops)
    scale("cached hits from C, a function per thread", lambda i: driven(own[i])(i), ops)
    scale("Cache.get hits from C, one cache shared", driven(cache.get), ops)
    scale("  anchor: dict.get hits from C, one dict shared", driven(table.get), ops)


def banks(names: tuple[str, ...] | None = None, bars: tuple[int, ...] = (400, 2_000)) -> None:
    """``IndicatorBank.batch(threads=2)`` against ``threads=1`` on the
    bench's panels (1,000 symbols; every class, or ``names``), best of 7."""
    from admf_perf.bench import bank
    from admf_perf.bench.indicators import INDICATORS

    for case in INDICATORS:
        if names is not None and case.name not in names:
            continue
        for n_bars in bars:
            panels = bank.panels(case.inputs, n_bars, bank.SEED + 1)
            b = bank._bank(case, False)
            t = {n: min(timeit.repeat(lambda n=n, b=b, panels=panels: (b.reset(), b.batch(*panels, threads=n)),
                                      number=1, repeat=7))
                 for n in (1, 2)}
            name = f"IndicatorBank({case.name}).batch 1,000 x {n_bars:,}, threads=2 vs 1"
            print(f"{name:55s} {t[1] * 1e3:.2f} ms vs {t[2] * 1e3:.2f} ms   {t[1] / t[2]:.2f}x", flush=True)


#: backtesting.py's SmaCross example (the bench's, ``admf_perf.bench.backtest.sma_cross``)
#: as a strategy file of its own, for ``--strategy``
SMA_CROSS = """\
from admf_perf import Strategy
from admf_perf.bench.backtest import sma_cross
from admf_perf.research import crossover

SmaCross = sma_cross(Strategy, crossover, "SmaCross", 10, 20)
"""


def searches() -> None:
    """``admf-perf optimize`` (its default grid), one worker against
    ``--workers 2 --threads``, each run a fresh process as a user's is; on
    the built-in bars and on the shared data's bars when ``../shared`` is
    beside the repository. The time is the report's (what the command
    prints), best of 3; the two tops must be equal."""
    import json
    import subprocess
    import tempfile
    from pathlib import Path

    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "ohlcv"
    paths = [None, *sorted(str(p) for p in shared.glob("*.csv"))]

    def run(path: str | None, *options: str) -> tuple[float, list[object], int]:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "report.json"
            subprocess.run([sys.executable, "-m", "admf_perf", "optimize", "--no-progress", "--json", str(out),
                            *(["--data", path] if path else []), *options],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            report = json.loads(out.read_text())
        return report["seconds"], report["top"], report["runs"]

    def compare(name: str, path: str | None, *options: str) -> None:
        one = min((run(path, *options) for _ in range(3)), key=lambda r: r[0])
        two = min((run(path, *options, "--workers", "2", "--threads") for _ in range(3)), key=lambda r: r[0])
        assert one[1] == two[1], "the threads found another top"
        name = f"{name}, {one[2]} runs ({Path(path).name if path else 'built-in bars'})"
        print(f"{name:55s} {one[0] * 1e3:.0f} ms vs {two[0] * 1e3:.0f} ms   {one[0] / two[0]:.2f}x", flush=True)

    for path in paths:
        compare("optimize --workers 2 --threads", path)
    with tempfile.TemporaryDirectory() as tmp:       # a backtesting.py strategy, searched by --strategy
        file = Path(tmp) / "smacross.py"
        file.write_text(SMA_CROSS)
        for path in paths:
            compare("optimize --strategy SmaCross --workers 2 --threads", path, "--strategy",
                    f"{file}:SmaCross", "--param", "n1=5:30:5", "--param", "n2=10:70:5")

if __name__ == "__main__":
    if sys.argv[1:] == ["--banks"]:             # the whole family, two sizes
        banks()
    else:
        main()
