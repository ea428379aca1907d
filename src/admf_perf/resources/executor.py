"""``ResourceAwareExecutor``: run many strategy/backtest callables through the
``CPUManager`` while watching CPU and memory.

Scheduling.  The executor keeps at most ``parallelism`` tasks in flight
(submitted to the CPUManager's thread or process pool, sized ``max_workers``)
and decides, each time a task finishes and before the first submission, from
one reading of its monitor (:class:`~admf_perf.monitoring.ResourceMonitor` by
default: system CPU percent, the MemoryManager's pressure verdict):

- memory pressure: release it (``MemoryManager.release_memory_pressure()``:
  every cache cleared through the CacheManager, idle pool objects dropped,
  ``gc``) and halve the parallelism (not below ``min_workers``);
- CPU saturated (``cpu_percent >= cpu_threshold``) without memory pressure:
  lower the parallelism by one (not below ``min_workers``) and submit nothing
  until fewer tasks than that run: it never oversubscribes a busy machine;
- neither: raise the parallelism by one, up to ``max_workers``.

Every change (and every pressure relief) is a :class:`Decision`, kept in
``history`` and passed to each ``on_pressure`` callback.  Results come back
complete and in input order whatever the parallelism did; a task that raises
makes ``run`` raise that exception after cancelling what had not started
(``return_exceptions=True`` puts the exception in its slot instead, as
``asyncio.gather`` does).

Tests inject a monitor whose ``sample()`` reports pressure on cue: any object
with ``sample() -> obj`` where ``obj`` has ``cpu_percent`` (0-100) and
``memory_pressure`` (bool) attributes.
"""
from __future__ import annotations

import functools
import itertools
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any

from .._validate import check_callable, check_real, check_str, positive_int
from .cpu import CPUManager
from .memory import MemoryManager
from .monitoring import ResourceMonitor

__all__ = ["Decision", "ResourceAwareExecutor", "expand_grid"]


@dataclass(frozen=True)
class Decision:
    """What the executor saw and did.

    ``action``: ``"start"``, ``"release_memory"`` (pressure relieved, then
    shrunk), ``"shrink_cpu"``, ``"grow"``.  ``parallelism`` is the limit after
    the decision, ``running`` the tasks in flight when it was taken.
    """

    action: str
    parallelism: int
    previous: int
    running: int
    completed: int
    cpu_percent: float
    memory_pressure: bool
    freed_bytes: int = 0
    sample: Any = field(default=None, compare=False, repr=False)


def expand_grid(grid: Mapping[str, Sequence[Any]] | Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Parameter sets of a grid: a mapping of name -> values gives the
    Cartesian product (in key order, last key fastest, as
    ``sklearn.model_selection.ParameterGrid``); an iterable of mappings is
    taken as is."""
    if isinstance(grid, Mapping):
        for name, values in grid.items():
            if not isinstance(name, str):
                raise TypeError(f"grid keys must be parameter names (str); got {name!r}")
            if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
                raise TypeError(f"grid[{name!r}] must be a sequence of values; got {type(values).__name__}")
        names = list(grid)
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(list(grid[n]) for n in names))]
    out = []
    for i, params in enumerate(grid):
        if not isinstance(params, Mapping):
            raise TypeError(f"grid item {i} must be a mapping of parameters; got {type(params).__name__}")
        out.append(dict(params))
    return out


class ResourceAwareExecutor:
    """Run callables through the CPUManager, adapting parallelism to CPU and
    memory pressure (see the module docs).

    Parameters: ``max_workers`` (default: usable CPUs), ``min_workers``
    (default 1), ``use_process`` (process pool instead of threads: callables
    must pickle), ``cpu`` (a CPUManager; default the process-wide one),
    ``memory`` (a MemoryManager; default the process-wide one), ``monitor``
    (an object with ``sample()``; default a ResourceMonitor over ``memory``),
    ``cpu_threshold`` (percent, default 95), ``task_name`` (stats name in the
    CPUManager; default the callable's).
    """

    def __init__(self, max_workers: int | None = None, min_workers: int = 1, *, use_process: bool = False,
                 cpu: CPUManager | None = None, memory: MemoryManager | None = None, monitor: Any = None,
                 cpu_threshold: float = 95.0, task_name: str | None = None) -> None:
        if max_workers is None:
            max_workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self.max_workers = positive_int(max_workers, "max_workers")
        self.min_workers = positive_int(min_workers, "min_workers")
        if self.min_workers > self.max_workers:
            raise ValueError(f"min_workers ({min_workers}) must be <= max_workers ({max_workers})")
        self.cpu_threshold = check_real(cpu_threshold, "cpu_threshold", minimum=0, maximum=100,
                                        open_minimum=True, what="a percent")
        if monitor is not None and not callable(getattr(monitor, "sample", None)):
            raise TypeError(f"monitor must have a sample() method returning cpu_percent and memory_pressure, "
                            f"or be None, got {type(monitor).__name__}")
        self.task_name = check_str(task_name, "task_name", allow_none=True)
        self.use_process = bool(use_process)
        self.cpu = cpu if cpu is not None else CPUManager.get_instance()
        self.memory = memory if memory is not None else MemoryManager.get_instance()
        self.monitor = monitor if monitor is not None else ResourceMonitor(self.memory)
        self.parallelism = self.max_workers
        self.history: list[Decision] = []
        self._callbacks: list[Callable[[Decision], Any]] = []
        self._lock = threading.Lock()

    # -- callbacks ---------------------------------------------------------------------
    def on_pressure(self, callback: Callable[[Decision], Any]) -> None:
        """Call ``callback(decision)`` whenever the executor reacts to pressure
        or its end (every :class:`Decision` but ``"start"``)."""
        self._callbacks.append(check_callable(callback, "callback"))

    # -- running ----------------------------------------------------------------------
    def run(self, tasks: Iterable[Callable[[], Any]], *, return_exceptions: bool = False) -> list[Any]:
        """Call every zero-argument callable of ``tasks``; results in order."""
        calls = list(tasks)
        for i, task in enumerate(calls):
            check_callable(task, f"tasks[{i}]", what="a zero-argument callable")
        return self._run(calls, return_exceptions)

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], *, return_exceptions: bool = False) -> list[Any]:
        """``[fn(item) for item in items]``, run as :meth:`run` runs tasks."""
        check_callable(fn, "fn")
        return self._run([functools.partial(fn, item) for item in items], return_exceptions)

    def run_grid(self, fn: Callable[..., Any], grid: Mapping[str, Sequence[Any]] | Iterable[Mapping[str, Any]], *,
                 return_exceptions: bool = False) -> list[Any]:
        """``fn(**params)`` for every parameter set of :func:`expand_grid`'s
        ``grid``; results in the grid's order."""
        check_callable(fn, "fn")
        return self._run([functools.partial(fn, **params) for params in expand_grid(grid)], return_exceptions)

    def _decide(self, running: int, completed: int, start: bool = False) -> None:
        """Read the monitor once and adjust ``parallelism`` (module docs)."""
        sample = self.monitor.sample()
        cpu_percent = float(sample.cpu_percent)
        pressure = bool(sample.memory_pressure)
        previous = self.max_workers if start else self.parallelism
        freed = 0
        if pressure:
            freed = int(self.memory.release_memory_pressure())
            action, new = "release_memory", max(self.min_workers, previous // 2)
        elif cpu_percent >= self.cpu_threshold:
            action, new = "shrink_cpu", max(self.min_workers, previous - 1)
        else:
            action, new = "grow", min(self.max_workers, previous + 1)
        self.parallelism = new
        if not start and action != "release_memory" and new == previous:
            return  # nothing changed, nothing to report
        decision = Decision("start" if start and action == "grow" else action, new, previous, running,
                            completed, cpu_percent, pressure, freed, sample)
        self.history.append(decision)
        if decision.action != "start":
            for callback in list(self._callbacks):
                callback(decision)

    def _run(self, calls: list[Callable[[], Any]], return_exceptions: bool) -> list[Any]:
        with self._lock:  # one run at a time per executor: its parallelism is one state
            n = len(calls)
            results: list[Any] = [None] * n
            if not n:
                return results
            self._ensure_pool()
            pending = iter(range(n))
            inflight: dict[Future[Any], int] = {}
            completed = 0
            error: BaseException | None = None
            self._decide(0, 0, start=True)
            try:
                while True:
                    while error is None and len(inflight) < self.parallelism:
                        i = next(pending, None)
                        if i is None:
                            break
                        name = self.task_name or _name(calls[i])
                        inflight[self.cpu.submit_task(calls[i], use_process=self.use_process,
                                                      task_name=name)] = i
                    if not inflight:
                        break
                    done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                    for future in done:
                        i = inflight.pop(future)
                        completed += 1
                        exc = future.exception()
                        if exc is None:
                            results[i] = future.result()
                        elif return_exceptions:
                            results[i] = exc
                        elif error is None:
                            error = exc
                    if error is None:
                        self._decide(len(inflight), completed)
            finally:
                for future in inflight:
                    future.cancel()
            if error is not None:
                raise error
            return results

    def _ensure_pool(self) -> None:
        """The CPUManager's pool of the kind used holds at least ``max_workers``."""
        size = self.cpu.pool_sizes()["processes" if self.use_process else "threads"]
        if size is None or size < self.max_workers:
            if self.use_process:
                self.cpu.init_process_pool(self.max_workers)
            else:
                self.cpu.init_thread_pool(self.max_workers)

    def __repr__(self) -> str:
        kind = "processes" if self.use_process else "threads"
        return (f"ResourceAwareExecutor(parallelism={self.parallelism}, min_workers={self.min_workers}, "
                f"max_workers={self.max_workers}, {kind})")


def _name(fn: Callable[..., Any]) -> str:
    inner = fn.func if isinstance(fn, functools.partial) else fn
    return getattr(inner, "__qualname__", None) or type(inner).__name__
