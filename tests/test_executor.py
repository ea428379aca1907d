"""ResourceAwareExecutor: decisions under injected pressure, complete ordered
results, no oversubscription (the monitor is scripted; no real pressure)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from admf_perf import Cache
from admf_perf.resources.cpu import CPUManager
from admf_perf.resources.executor import Decision, ResourceAwareExecutor, expand_grid


@dataclass
class Reading:
    cpu_percent: float = 10.0
    memory_pressure: bool = False


class ScriptedMonitor:
    """Reports ``script[i]`` on the i-th sample, then the last one forever."""

    def __init__(self, *script: Reading) -> None:
        self.script = list(script) or [Reading()]
        self.calls = 0

    def sample(self) -> Reading:
        reading = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        return reading


class CountingCPU:
    """A CPUManager that checks, at every submission, that the executor never
    has more tasks in flight than its parallelism allows."""

    def __init__(self, cpu: CPUManager) -> None:
        self.cpu = cpu
        self.executor: ResourceAwareExecutor | None = None
        self.inflight = 0
        self.max_seen = 0
        self.violations: list[tuple[int, int]] = []
        self._lock = threading.Lock()

    def pool_sizes(self):
        return self.cpu.pool_sizes()

    def init_thread_pool(self, n):
        self.cpu.init_thread_pool(n)

    def init_process_pool(self, n):
        self.cpu.init_process_pool(n)

    def submit_task(self, fn, *args, use_process=False, task_name=None, **kwargs):
        with self._lock:
            self.inflight += 1
            self.max_seen = max(self.max_seen, self.inflight)
            if self.inflight > self.executor.parallelism:
                self.violations.append((self.inflight, self.executor.parallelism))
        def done(_f=None):
            with self._lock:
                self.inflight -= 1

        if use_process:
            future = self.cpu.submit_task(fn, *args, use_process=True, task_name=task_name, **kwargs)
            future.add_done_callback(done)
            return future

        # a thread task counts itself out as it ends, before its future wakes
        # the executor (a done-callback runs after: with threads really running
        # at once, the executor's next submission could come first)
        def run(*a, **k):
            try:
                return fn(*a, **k)
            finally:
                done()

        return self.cpu.submit_task(run, *args, use_process=False, task_name=task_name, **kwargs)


class RecordingMemory:
    def __init__(self) -> None:
        self.released = 0

    def release_memory_pressure(self) -> int:
        self.released += 1
        return 1234


@pytest.fixture
def cpu():
    manager = CPUManager()
    yield manager
    manager.shutdown()


def make(cpu, monitor, memory=None, **kwargs):
    counting = CountingCPU(cpu)
    ex = ResourceAwareExecutor(cpu=counting, monitor=monitor, memory=memory or RecordingMemory(), **kwargs)
    counting.executor = ex
    return ex, counting


def square_after(x: int, delay: float = 0.002) -> int:
    time.sleep(delay)
    return x * x


def test_results_complete_and_in_order_without_pressure(cpu):
    ex, counting = make(cpu, ScriptedMonitor(), max_workers=4)
    items = list(range(40))
    assert ex.map(lambda x: square_after(x, 0.001 * (x % 3)), items) == [x * x for x in items]
    assert ex.run([lambda i=i: i + 1 for i in range(10)]) == list(range(1, 11))
    assert counting.violations == [] and counting.max_seen <= 4
    assert [d.action for d in ex.history] == ["start", "start"] and ex.parallelism == 4


def test_memory_pressure_releases_shrinks_then_recovers(cpu):
    calm, tight = Reading(), Reading(memory_pressure=True)
    monitor = ScriptedMonitor(calm, calm, calm, tight, tight, calm, calm, calm, calm, calm)
    memory = RecordingMemory()
    seen: list[Decision] = []
    ex, counting = make(cpu, monitor, memory, max_workers=4, min_workers=1)
    ex.on_pressure(seen.append)
    items = list(range(30))
    assert ex.map(square_after, items) == [x * x for x in items]
    actions = [(d.action, d.previous, d.parallelism) for d in ex.history]
    assert actions[:5] == [("start", 4, 4), ("release_memory", 4, 2), ("release_memory", 2, 1),
                           ("grow", 1, 2), ("grow", 2, 3)]
    assert actions[5] == ("grow", 3, 4) and ex.parallelism == 4
    assert memory.released == 2
    assert [d.freed_bytes for d in ex.history if d.action == "release_memory"] == [1234, 1234]
    assert seen == ex.history[1:]                       # callbacks saw every reaction, not the start
    assert counting.violations == []


def test_cpu_saturation_never_oversubscribes(cpu):
    busy = Reading(cpu_percent=99.0)
    ex, counting = make(cpu, ScriptedMonitor(busy), max_workers=3, min_workers=1)
    items = list(range(20))
    assert ex.map(square_after, items) == [x * x for x in items]
    assert ex.parallelism == 1
    assert [(d.previous, d.parallelism) for d in ex.history] == [(3, 2), (2, 1)]
    assert {d.action for d in ex.history} == {"shrink_cpu"}
    assert ex.history[0].parallelism == 2               # saturated from the start: one below max
    assert counting.violations == []
    assert counting.max_seen <= 2


def test_release_through_the_real_memory_manager_clears_caches(cpu):
    from admf_perf.resources.memory import MemoryManager

    cache = Cache(max_size=8, name="executor-probe")
    cache.set("k", 1)
    ex, _ = make(cpu, ScriptedMonitor(Reading(memory_pressure=True), Reading()),
                 memory=MemoryManager.get_instance(), max_workers=2)
    assert ex.run([lambda: 1, lambda: 2, lambda: 3]) == [1, 2, 3]
    assert "k" not in cache and ex.history[0].action == "release_memory"


def test_run_grid_on_processes(cpu):
    ex, _ = make(cpu, ScriptedMonitor(), max_workers=2, use_process=True)
    grid = {"x": [1, 2, 3], "delay": [0.0, 0.001]}
    assert expand_grid(grid) == [{"x": 1, "delay": 0.0}, {"x": 1, "delay": 0.001}, {"x": 2, "delay": 0.0},
                                 {"x": 2, "delay": 0.001}, {"x": 3, "delay": 0.0}, {"x": 3, "delay": 0.001}]
    assert ex.run_grid(square_after, grid) == [1, 1, 4, 4, 9, 9]
    assert ex.run_grid(square_after, [{"x": 5}, {"x": 6, "delay": 0}]) == [25, 36]


def boom(x: int) -> int:
    if x == 3:
        raise KeyError(x)
    return x


def test_exceptions(cpu):
    ex, _ = make(cpu, ScriptedMonitor(), max_workers=2)
    with pytest.raises(KeyError):
        ex.map(boom, range(6))
    out = ex.map(boom, range(6), return_exceptions=True)
    assert out[:3] == [0, 1, 2] and isinstance(out[3], KeyError) and out[4:] == [4, 5]
    assert ex.map(boom, []) == []


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"max_workers": 0}, "max_workers"), ({"min_workers": 0}, "min_workers"),
    ({"max_workers": 2, "min_workers": 3}, "min_workers"), ({"cpu_threshold": 0}, "cpu_threshold"),
    ({"cpu_threshold": float("nan")}, "cpu_threshold"),
])
def test_validation(cpu, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResourceAwareExecutor(cpu=cpu, monitor=ScriptedMonitor(), **kwargs)


def test_type_errors(cpu):
    with pytest.raises(TypeError, match="monitor"):
        ResourceAwareExecutor(cpu=cpu, monitor=object())
    with pytest.raises(TypeError, match="max_workers must be an int >= 1, got float"):
        ResourceAwareExecutor(cpu=cpu, monitor=ScriptedMonitor(), max_workers=2.0)
    ex = ResourceAwareExecutor(cpu=cpu, monitor=ScriptedMonitor(), max_workers=1)
    with pytest.raises(TypeError, match=r"tasks\[1\]"):
        ex.run([lambda: 1, 2])
    with pytest.raises(TypeError, match="grid"):
        ex.run_grid(square_after, {"x": 5})
    with pytest.raises(TypeError, match="callback"):
        ex.on_pressure(None)
