"""CPUManager: pools, statistics, worker-death recovery, shared inputs, Dask backend.

Functions run in process pools are defined at module level here: workers
(forkserver) import this module by name, as pytest put its directory on
sys.path.  Every wait is
bounded by a timeout; no test asserts on speed.
"""
from __future__ import annotations

import concurrent.futures as cf
import functools
import importlib
import os
import pickle
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

T = 60  # seconds: bound on every wait (a hang fails, it never blocks the suite)


# -- task functions (module level: picklable) -----------------------------------------------
def square(x):
    return x * x


def add(x, y=0, *, z=0):
    return x + y + z


def raise_value(x):
    raise ValueError(f"bad {x}")


def whoami(x):
    return os.getpid()


def sleep_then(x, seconds):
    time.sleep(seconds)
    return x


def crash_on(x, bad, how):
    """``x * x``, except that the worker process dies on ``x == bad``."""
    if x == bad:
        if how == "exit":
            os._exit(1)
        os.kill(os.getpid(), getattr(signal, how))
        time.sleep(30)                     # the signal arrives before this ends
    return x * x


def crash_once(x, bad, marker):
    """Dies on ``x == bad`` the first time only (the marker file remembers)."""
    if x == bad and not os.path.exists(marker):
        Path(marker).touch()
        os._exit(3)
    return x * x


_CALLS = 0


def pid_and_call(x):
    """(worker pid, this worker's call number): one chunk is consecutive calls."""
    global _CALLS
    _CALLS += 1
    return os.getpid(), _CALLS


def frame_sum(x, frame):
    return x + float(frame["close"].sum()), id(frame), os.getpid()


def unpicklable_result(x):
    return threading.Lock()


def die_at_start(tracker):
    """Stands in for the worker initializer: the worker dies before any task."""
    os._exit(7)


# -- fixtures --------------------------------------------------------------------------------
@pytest.fixture
def cpu(ap):
    """The ``cpu`` module of the package under test."""
    return ap.cpu


@pytest.fixture
def mgr(cpu):
    manager = cpu.CPUManager()
    manager.init_process_pool(2)
    yield manager
    manager.shutdown(wait=True)


# -- basics ----------------------------------------------------------------------------------
def test_singleton_and_independent_instances(cpu):
    a = cpu.CPUManager.get_instance()
    assert a is cpu.CPUManager.get_instance()
    b = cpu.CPUManager()
    assert b is not a and isinstance(b, cpu.CPUManager)


@pytest.mark.parametrize("use_process", [False, True])
def test_submit_task_results_and_kwargs(mgr, use_process):
    assert mgr.submit_task(square, 7, use_process=use_process).result(T) == 49
    # keyword arguments other than use_process/task_name belong to fn
    fut = mgr.submit_task(add, 1, 2, z=3, use_process=use_process)
    assert fut.result(T) == 6
    assert isinstance(fut, cf.Future)
    pid = mgr.submit_task(whoami, 0, use_process=use_process).result(T)
    assert (pid != os.getpid()) == use_process


@pytest.mark.parametrize("use_process", [False, True])
@pytest.mark.parametrize("chunksize", [1, 3, 50])
def test_map_tasks_in_input_order(mgr, use_process, chunksize):
    items = list(range(-20, 23))
    assert mgr.map_tasks(square, items, use_process=use_process,
                         chunksize=chunksize) == [x * x for x in items]
    assert mgr.map_tasks(square, iter(items), use_process=use_process,
                         chunksize=chunksize) == [x * x for x in items]
    assert mgr.map_tasks(square, [], use_process=use_process) == []
    st = mgr.task_stats()["square"]
    assert st["count"] == 2 * len(items) and st["failures"] == 0


def test_map_tasks_chunk_runs_in_one_worker_call(mgr):
    results = mgr.map_tasks(pid_and_call, range(24), use_process=True, chunksize=6)
    for start in range(0, 24, 6):
        chunk = results[start:start + 6]
        assert len({pid for pid, _ in chunk}) == 1          # one worker ran the chunk
        calls = [n for _, n in chunk]
        assert calls == list(range(calls[0], calls[0] + 6))  # back to back, in order


def test_task_stats_names_counts_and_durations(mgr):
    mgr.map_tasks(sleep_then, [1, 2, 3], use_process=True, task_name="sleepy",
                  shared=0.05)
    for x in range(4):
        mgr.submit_task(square, x).result(T)
    f = mgr.submit_task(raise_value, 1)
    assert isinstance(f.exception(T), ValueError)
    stats = mgr.task_stats()
    sleepy = stats["sleepy"]
    assert sleepy["count"] == 3 and sleepy["failures"] == 0
    # measured around fn in the worker: a 0.05 s sleep lasts at least that long
    assert sleepy["min"] >= 0.05 and sleepy["max"] >= sleepy["min"]
    assert sleepy["mean"] == pytest.approx(sleepy["total"] / 3)
    assert stats["square"]["count"] == 4 and stats["square"]["failures"] == 0
    # the default name is the function's qualified name
    assert stats[raise_value.__qualname__]["failures"] == 1
    mgr.reset_stats()
    assert mgr.task_stats() == {}


def test_stats_are_thread_safe(mgr):
    def hammer():
        for _ in range(50):
            mgr.submit_task(square, 3, task_name="hammer").result(T)
    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(T)
    assert mgr.task_stats()["hammer"]["count"] == 200


# -- exceptions ------------------------------------------------------------------------------
class _Boom(Exception):
    pass


def test_thread_exception_reaches_future_unchanged(mgr):
    exc = _Boom("the very object")

    def raiser():
        raise exc
    fut = mgr.submit_task(raiser)
    assert fut.exception(T) is exc
    with pytest.raises(_Boom):
        fut.result(T)


def test_process_exception_keeps_type_args_and_traceback(mgr, cpu):
    fut = mgr.submit_task(raise_value, 42, use_process=True)
    exc = fut.exception(T)
    assert type(exc) is ValueError and exc.args == ("bad 42",)
    assert isinstance(exc.__cause__, cpu.RemoteTraceback)
    assert "raise_value" in str(exc.__cause__)
    assert mgr.task_stats()["raise_value"]["failures"] == 1


@pytest.mark.parametrize("use_process", [False, True])
def test_map_tasks_failures(mgr, use_process):
    items = [1, 2, 3]
    with pytest.raises(ValueError, match="bad 1"):        # first failure in input order
        mgr.map_tasks(raise_value, items, use_process=use_process)
    out = mgr.map_tasks(raise_value, items, use_process=use_process, return_exceptions=True)
    assert [type(e) for e in out] == [ValueError] * 3
    assert [e.args[0] for e in out] == ["bad 1", "bad 2", "bad 3"]
    assert mgr.task_stats()["raise_value"]["failures"] == 6


def test_map_tasks_timeout(mgr):
    gate = threading.Event()
    with pytest.raises(TimeoutError, match="not finished"):
        mgr.map_tasks(lambda x: gate.wait(T), [1, 2], timeout=0.05)
    gate.set()


def test_unpicklable_result_fails_its_item_only(mgr):
    out = mgr.map_tasks(unpicklable_result, [1, 2], use_process=True, chunksize=2,
                        return_exceptions=True)
    assert all(isinstance(e, pickle.PicklingError) for e in out)
    assert mgr.map_tasks(square, [1, 2], use_process=True, chunksize=2) == [1, 4]


# -- worker deaths ---------------------------------------------------------------------------
@pytest.mark.parametrize("how,exitcode", [("exit", 1), ("SIGKILL", -signal.SIGKILL),
                                          ("SIGTERM", -signal.SIGTERM)])
@pytest.mark.parametrize("chunksize", [1, 4])
def test_worker_death_fails_only_its_task(mgr, cpu, how, exitcode, chunksize):
    items = list(range(40))
    if chunksize == 1:
        futures = [mgr.submit_task(crash_on, x, 13, how, use_process=True) for x in items]
        out = [f.exception(T) or f.result(T) for f in futures]
    else:
        out = mgr.map_tasks(functools.partial(crash_on, bad=13, how=how), items,
                            use_process=True, chunksize=chunksize, return_exceptions=True,
                            timeout=T)
    for x, value in zip(items, out, strict=True):
        if x == 13:
            assert isinstance(value, cpu.WorkerCrashedError)
            assert isinstance(value, RuntimeError)
            assert value.exitcode == exitcode and value.attempts == 1
            assert "crash_on" in str(value) and "died" in str(value)
        else:
            assert value == x * x
    st = mgr.task_stats()["crash_on"]
    assert st["count"] == 40 and st["failures"] == 1 and st["crashes"] == 1
    # the manager keeps working (on a rebuilt pool)
    assert mgr.map_tasks(square, range(10), use_process=True) == [x * x for x in range(10)]


def test_idle_worker_killed_between_tasks(mgr):
    """A worker killed while no task runs (the OOM killer, an operator): the next
    tasks run on a rebuilt pool instead of failing with BrokenProcessPool."""
    assert mgr.map_tasks(whoami, range(4), use_process=True)
    workers = list(mgr._supervisor._gen.executor._processes)
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + T
    while time.monotonic() < deadline and mgr._supervisor._gen.executor._processes.get(workers[0]) is not None \
            and mgr._supervisor._gen.executor._processes[workers[0]].is_alive():
        time.sleep(0.01)
    assert mgr.submit_task(square, 7, use_process=True).result(T) == 49
    assert mgr.map_tasks(square, range(6), use_process=True, chunksize=2) == [x * x for x in range(6)]


def test_crash_before_the_first_item_requeues_the_whole_chunk(cpu):
    """A worker that dies after recording its pid, before its first item, never
    ran any: the chunk runs again once, no item twice."""
    m = cpu.CPUManager()
    try:
        m.init_process_pool(1)
        gen = m._supervisor._current_generation()
        items = [cpu.jobs._Item((x,), {}, cf.Future()) for x in range(3)]
        job = cpu.jobs._Job(square, "square", items, 0)
        job.slot, job.fut = 0, None
        gen.inflight[id(job)] = job
        gen.tracker[0], gen.tracker[1] = 12345, 0         # pid recorded, position 0
        m._supervisor._recover(gen)
        assert [[item.args[0] for item in j.items] for j in m._supervisor._pending] == [[0, 1, 2]]
    finally:
        m._supervisor._pending.clear()
        m.shutdown()


def test_crash_message_and_pickling(cpu):
    err = cpu.WorkerCrashedError("job", -9, 2)
    assert "job" in str(err) and "SIGKILL" in str(err) and "2 attempts" in str(err)
    if sys.modules.get(cpu.__name__) is cpu:   # the twin copy is not importable by name
        again = pickle.loads(pickle.dumps(err))
        assert type(again) is type(err) and str(again) == str(err) and again.exitcode == -9
        assert (again.task_name, again.attempts) == ("job", 2)
    assert "exit code 1" in str(cpu.WorkerCrashedError("job", 1))


def test_crash_once_succeeds_with_retries(mgr, tmp_path):
    marker = str(tmp_path / "crashed")
    mgr.set_retries(1)
    futures = [mgr.submit_task(crash_once, x, 5, marker, use_process=True) for x in range(12)]
    out = [f.result(T) for f in futures]
    assert out == [x * x for x in range(12)]
    assert os.path.exists(marker)                       # it did crash once
    st = mgr.task_stats()["crash_once"]
    assert st["retries"] == 1 and st["failures"] == 0 and st["count"] == 12


def test_crash_once_fails_without_retries_and_map_retries(mgr, cpu, tmp_path):
    marker = str(tmp_path / "crashed")
    fut = mgr.submit_task(crash_once, 5, 5, marker, use_process=True)
    assert isinstance(fut.exception(T), cpu.WorkerCrashedError)
    assert fut.exception(T).exitcode == 3
    # map_tasks' own retries= knob
    marker2 = str(tmp_path / "crashed2")
    out = mgr.map_tasks(functools.partial(crash_once, bad=7, marker=marker2), range(10), use_process=True, chunksize=3,
                        retries=2, timeout=T)
    assert out == [x * x for x in range(10)] and os.path.exists(marker2)


def test_always_crashing_task_exhausts_retries(mgr, cpu):
    out = mgr.map_tasks(functools.partial(crash_on, bad=13, how="exit"), [12, 13, 14], use_process=True, retries=2,
                        return_exceptions=True, timeout=T)
    assert out[0] == 144 and out[2] == 196
    assert isinstance(out[1], cpu.WorkerCrashedError) and out[1].attempts == 3


def test_pool_breaking_at_start_up_fails_tasks_instead_of_looping(mgr, cpu, monkeypatch):
    # the pool's worker initializer, sent by name, replaced by one that dies
    init = cpu.tasks._Ref(die_at_start)
    init._name = f"{die_at_start.__module__}:{die_at_start.__name__}"
    monkeypatch.setattr(cpu.supervisor, "_INIT_WORKER", init)
    fut = mgr.submit_task(square, 3, use_process=True)
    exc = fut.exception(T)
    assert isinstance(exc, cpu.WorkerCrashedError) and exc.exitcode == 7
    assert "before the task started" in str(exc)
    monkeypatch.undo()
    assert mgr.submit_task(square, 3, use_process=True).result(T) == 9


def test_second_copy_of_the_module(prices):
    """A copy of the cpu package that is not in sys.modules (the test suite's
    twin package is one) still pickles its worker entry points by name."""
    import importlib.util
    name = "admf_perf.resources.cpu"
    path = Path(importlib.import_module(name).__file__)        # the package's __init__.py
    spec = importlib.util.spec_from_file_location(name, path)
    copy = importlib.util.module_from_spec(spec)
    # its modules are copies too: imported while the copy stands in for the package
    saved = {n: m for n, m in sys.modules.items() if n == name or n.startswith(name + ".")}
    for n in saved:
        del sys.modules[n]
    sys.modules[name] = copy
    try:
        spec.loader.exec_module(copy)
    finally:
        for n in [n for n in sys.modules if n == name or n.startswith(name + ".")]:
            del sys.modules[n]
        sys.modules.update(saved)
    assert copy is not sys.modules["admf_perf.resources.cpu"]
    assert copy.tasks is not sys.modules["admf_perf.resources.cpu.tasks"]
    with copy.CPUManager() as m:
        m.init_process_pool(2)
        out = m.map_tasks(functools.partial(crash_on, bad=3, how="SIGKILL"), range(8),
                          use_process=True, chunksize=2, return_exceptions=True, timeout=T)
        assert isinstance(out[3], copy.WorkerCrashedError) and out[3].exitcode == -9
        assert [v for i, v in enumerate(out) if i != 3] == [x * x for x in range(8) if x != 3]
        total = float(prices["close"].sum())
        res = m.map_tasks(frame_sum, range(4), use_process=True, shared=prices, timeout=T)
        assert [v for v, _, _ in res] == [x + total for x in range(4)]


def test_spawn_start_method(cpu):
    with cpu.CPUManager(start_method="spawn") as m:
        m.init_process_pool(1)
        assert m.map_tasks(square, range(5), use_process=True, chunksize=2,
                           timeout=T) == [0, 1, 4, 9, 16]


# -- pool sizes --------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [0, -1])
def test_bad_arguments_value_errors(cpu, bad):
    m = cpu.CPUManager()
    with pytest.raises(ValueError, match="max_workers"):
        m.init_thread_pool(bad)
    with pytest.raises(ValueError, match="max_workers"):
        m.init_process_pool(bad)
    with pytest.raises(ValueError, match="chunksize"):
        m.map_tasks(square, [1], chunksize=bad)
    with pytest.raises(ValueError, match="retries"):
        m.map_tasks(square, [1], retries=-1)
    with pytest.raises(ValueError, match="max_retries"):
        m.set_retries(-1)
    with pytest.raises(ValueError, match="start_method"):
        m.init_process_pool(1, start_method="teleport")
    with pytest.raises(ValueError, match="backend"):
        m.use_backend("spark")
    with pytest.raises(ValueError, match="timeout"):
        m.map_tasks(square, [1], timeout=-1)
    with pytest.raises(ValueError, match="interval"):
        m.get_cpu_usage(interval=0)


def test_bad_arguments_type_errors(cpu):
    m = cpu.CPUManager()
    for bad in (1.5, "2", True):
        with pytest.raises(TypeError, match="max_workers"):
            m.init_thread_pool(bad)
        with pytest.raises(TypeError, match="max_workers"):
            m.init_process_pool(bad)
        with pytest.raises(TypeError, match="chunksize"):
            m.map_tasks(square, [1], chunksize=bad)
    with pytest.raises(TypeError, match="fn must be callable"):
        m.submit_task(42)
    with pytest.raises(TypeError, match="fn must be callable"):
        m.map_tasks("square", [1])
    with pytest.raises(TypeError, match="items"):
        m.map_tasks(square, 5)
    with pytest.raises(TypeError, match="task_name"):
        m.submit_task(square, 1, task_name=3)
    m.shutdown()


def test_default_sizes_are_set_lazily(cpu):
    m = cpu.CPUManager()
    assert m.pool_sizes() == {"threads": None, "processes": None}
    m.submit_task(square, 2).result(T)
    m.submit_task(square, 2, use_process=True).result(T)
    sizes = m.pool_sizes()
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert sizes == {"threads": min(32, ncpu + 4), "processes": ncpu}
    m.shutdown()


def test_thread_pool_resize_keeps_accepted_work(cpu):
    m = cpu.CPUManager()
    m.init_thread_pool(1)
    gate = threading.Event()
    blocked = [m.submit_task(lambda x: (gate.wait(T), x)[1], i) for i in range(5)]
    m.init_thread_pool(3)                      # replaces the pool; queued tasks still run
    assert m.pool_sizes()["threads"] == 3
    assert m.submit_task(square, 9).result(T) == 81   # the new pool is free
    gate.set()
    assert [f.result(T) for f in blocked] == list(range(5))
    m.shutdown()


def test_process_pool_resize_keeps_accepted_work(cpu):
    m = cpu.CPUManager()
    m.init_process_pool(1)
    futures = [m.submit_task(sleep_then, i, 0.01, use_process=True) for i in range(30)]
    m.init_process_pool(2)
    futures += [m.submit_task(sleep_then, i, 0.0, use_process=True) for i in range(30, 40)]
    m.init_process_pool(2)                     # same size: keeps the pool
    assert [f.result(T) for f in futures] == list(range(40))
    assert m.pool_sizes()["processes"] == 2
    m.shutdown()


# -- shared inputs ---------------------------------------------------------------------------
@pytest.fixture
def prices():
    rng = np.random.default_rng(7)
    return pd.DataFrame({"close": rng.normal(100, 1, 2000), "volume": rng.integers(1, 9, 2000)})


@pytest.mark.parametrize("use_process", [False, True])
def test_map_tasks_shared_frame(mgr, prices, use_process):
    total = float(prices["close"].sum())
    out = mgr.map_tasks(frame_sum, range(20), use_process=use_process, chunksize=2,
                        shared=prices)
    assert [v for v, _, _ in out] == [x + total for x in range(20)]
    if not use_process:
        assert {i for _, i, _ in out} == {id(prices)}   # threads get the object itself
    else:
        # loaded once per worker process: one object per pid
        per_pid: dict[int, set[int]] = {}
        for _, ident, pid in out:
            per_pid.setdefault(pid, set()).add(ident)
        assert all(len(ids) == 1 for ids in per_pid.values())


def test_share_handle_as_argument(mgr, cpu, prices):
    handle = mgr.share(prices)
    assert isinstance(handle, cpu.SharedObject)
    total = float(prices["close"].sum())
    futures = [mgr.submit_task(frame_sum, x, handle, use_process=True) for x in range(6)]
    futures.append(mgr.submit_task(frame_sum, 1, frame=handle))
    assert [f.result(T)[0] for f in futures] == [x + total for x in range(6)] + [1 + total]
    path = handle._path
    assert path is not None and os.path.exists(path)
    handle.release()
    assert not os.path.exists(path)
    with pytest.raises(TypeError, match="SharedObject"):
        pickle.dumps(handle)


# -- readings and lifecycle ------------------------------------------------------------------
def test_get_cpu_usage(mgr):
    usage = mgr.get_cpu_usage()
    assert 0.0 <= usage["system_percent"] <= 100.0
    assert usage["process_percent"] >= 0.0
    assert usage["cpu_count"] >= 1 and len(usage["per_cpu_percent"]) == usage["cpu_count"]
    assert usage["process_threads"] >= 1
    usage = mgr.get_cpu_usage(interval=0.05)
    assert 0.0 <= usage["system_percent"] <= 100.0


def test_context_manager_shutdown_and_reuse(cpu):
    with cpu.CPUManager() as m:
        futures = [m.submit_task(sleep_then, i, 0.01, use_process=True) for i in range(8)]
        futures += [m.submit_task(square, i) for i in range(8)]
    # leaving the block waited for every accepted task
    assert all(f.done() for f in futures)
    assert [f.result(0) for f in futures[:8]] == list(range(8))
    # still usable: new pools on demand
    assert m.submit_task(square, 5, use_process=True).result(T) == 25
    m.shutdown(wait=False)
    assert m.submit_task(square, 6).result(T) == 36
    m.shutdown()


def test_shutdown_cancel_pending(cpu):
    m = cpu.CPUManager()
    m.init_process_pool(1)
    futures = [m.submit_task(sleep_then, i, 0.05, use_process=True) for i in range(20)]
    m.shutdown(wait=True, cancel_pending=True)
    done = [f for f in futures if not f.cancelled()]
    assert any(f.cancelled() for f in futures)
    assert all(f.result(0) == futures.index(f) for f in done)


# -- Dask ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dask_mgr():
    pytest.importorskip("distributed")
    cpu = importlib.import_module("admf_perf.resources.cpu")
    m = cpu.CPUManager()
    m.use_backend("dask", processes=False, n_workers=1, threads_per_worker=2,
                  dashboard_address=":0")
    yield m
    m.shutdown()


def test_dask_submit_map_and_stats(dask_mgr):
    m = dask_mgr
    m.reset_stats()
    assert m.backend == "dask"
    assert m.submit_task(add, 1, 2, z=3).result(T) == 6
    items = list(range(15))
    assert m.map_tasks(square, items, chunksize=4) == [x * x for x in items]
    fut = m.submit_task(raise_value, 9)
    assert type(fut.exception(T)) is ValueError and fut.exception(T).args == ("bad 9",)
    stats = m.task_stats()
    assert stats["square"]["count"] == 15 and stats["raise_value"]["failures"] == 1


def test_dask_shared_is_scattered_once(dask_mgr, prices):
    m = dask_mgr
    total = float(prices["close"].sum())
    handle = m.share(prices)
    out = m.map_tasks(frame_sum, range(8), chunksize=2, shared=handle)
    assert [v for v, _, _ in out] == [x + total for x in range(8)]
    assert len(handle._dask) == 1                      # one scatter for all chunks
    assert m.submit_task(frame_sum, 2, handle).result(T)[0] == 2 + total
    assert len(handle._dask) == 1
    handle.release()


def test_dask_connect_by_address_leaves_cluster_running(dask_mgr):
    cpu = importlib.import_module("admf_perf.resources.cpu")
    address = dask_mgr.dask_client.scheduler.address
    other = cpu.CPUManager()
    other.use_backend("dask", address=address)
    assert other.submit_task(square, 4).result(T) == 16
    other.use_backend("local")
    assert other.backend == "local" and other.dask_client is None
    # the cluster belongs to dask_mgr and still runs
    assert dask_mgr.submit_task(square, 5).result(T) == 25
    assert other.submit_task(square, 3).result(T) == 9   # local pools again
    other.shutdown()


def test_dask_worker_death_and_owned_cluster_closed():
    """A cluster with a worker process: a task that kills it ends as
    WorkerCrashedError (Dask's KilledWorker); leaving the backend closes the
    cluster the manager started."""
    pytest.importorskip("distributed")
    import dask
    cpu = importlib.import_module("admf_perf.resources.cpu")
    m = cpu.CPUManager()
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        m.use_backend("dask", processes=True, n_workers=1, threads_per_worker=1,
                      dashboard_address=":0")
    cluster = m._dask.cluster
    try:
        fut = m.submit_task(crash_on, 13, 13, "exit")
        exc = fut.exception(T)
        assert isinstance(exc, cpu.WorkerCrashedError), repr(exc)
        assert type(exc.__cause__).__name__ == "KilledWorker"
        assert m.task_stats()["crash_on"]["crashes"] == 1
        assert m.submit_task(square, 3).result(T) == 9     # the nanny restarted the worker
    finally:
        m.use_backend("local")
    assert str(cluster.status).endswith("closed")
    assert m.submit_task(square, 3).result(T) == 9
    m.shutdown()


def test_missing_dask_is_a_clear_import_error(cpu, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"admf-perf\[dask\]"):
        cpu.CPUManager().use_backend("dask")


# -- the "threads" backend ---------------------------------------------------------------------
def test_threads_backend_runs_process_tasks_on_threads(cpu, prices):
    m = cpu.CPUManager()
    try:
        assert m.backend == "local"
        m.use_backend("threads")
        assert m.backend == "threads"
        m.init_thread_pool(2)
        total = float(prices["close"].sum())
        handle = m.share(prices)
        futures = [m.submit_task(frame_sum, x, handle, use_process=True, task_name="t") for x in range(6)]
        out = [f.result(T) for f in futures]
        assert [v for v, _, _ in out] == [x + total for x in range(6)]
        assert {i for _, i, _ in out} == {id(prices)}          # the object itself: nothing pickled
        assert {pid for _, _, pid in out} == {os.getpid()}
        mapped = m.map_tasks(frame_sum, range(8), use_process=True, chunksize=3, shared=prices)
        assert [v for v, _, _ in mapped] == [x + total for x in range(8)]
        assert {pid for _, _, pid in mapped} == {os.getpid()}
        assert m.task_stats()["t"]["count"] == 6
        assert m.pool_sizes() == {"threads": 2, "processes": None}   # no process pool chosen
        with pytest.raises(ValueError, match="'threads' takes no address"):
            m.use_backend("threads", address="tcp://x:1")
        m.use_backend("local")
        assert m.backend == "local"
        m.init_process_pool(1)
        assert m.submit_task(os.getpid, use_process=True).result(T) != os.getpid()
    finally:
        m.shutdown(wait=True)


def test_thread_tasks_cancelled_before_they_start_never_run(cpu):
    """A thread task waits pending until a pool thread takes it: cancel()
    stops it, as for processes (shutdown's cancel_pending too)."""
    import threading as th

    m = cpu.CPUManager()
    gate = th.Event()
    ran = []
    try:
        m.init_thread_pool(1)
        blocker = m.submit_task(gate.wait, T)
        queued = [m.submit_task(ran.append, i, task_name="queued") for i in range(5)]
        assert all(f.cancel() for f in queued[:3])
        gate.set()
        assert blocker.result(T) is True
        assert [f.result(T) for f in queued[3:]] == [None, None]
        assert sorted(ran) == [3, 4]
        assert all(f.cancelled() for f in queued[:3])
        assert m.task_stats()["queued"]["count"] == 2          # the cancelled ones never ran
        gate.clear()
        started = th.Event()
        blocker = m.submit_task(lambda: started.set() or gate.wait(T))
        pending = [m.submit_task(ran.append, i, task_name="pending") for i in range(5, 8)]
        assert started.wait(T)
        m.shutdown(wait=False, cancel_pending=True)     # the blocker still holds the thread
        gate.set()
        assert blocker.result(T) is True
        assert all(f.cancelled() for f in pending) and sorted(ran) == [3, 4]
        assert "pending" not in m.task_stats()
    finally:
        gate.set()
        m.shutdown(wait=True)


def test_a_failed_dask_connection_leaves_the_backend(cpu):
    pytest.importorskip("distributed")
    m = cpu.CPUManager()
    try:
        m.use_backend("threads")
        with pytest.raises(OSError):
            m.use_backend("dask", address="tcp://127.0.0.1:9", timeout=1)
        assert m.backend == "threads"
    finally:
        m.shutdown(wait=True)
