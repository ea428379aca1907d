"""IOManager (issue 5, section 2): the worker queue, callbacks, atomic writes
(crash tests in subprocesses), draining at exit, memory maps, buffers, stats.

``fileio`` has no compiled part; the tests still take ``ap`` (both package
copies) for the in-process checks, and run the subprocess checks once.
"""
from __future__ import annotations

import gc
import importlib
import logging
import mmap
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
TEMP_SUFFIX = ".admf-tmp"


@pytest.fixture
def fio(ap):
    """``ap.fileio``: the module of the package under test."""
    return ap.fileio


@pytest.fixture
def io(fio):
    manager = fio.IOManager()
    yield manager
    manager.shutdown(wait=True)


def _blocked(io, tmp_path):
    """Block the worker (behind a write whose callback waits) until the event is set."""
    gate = threading.Event()
    started = threading.Event()

    def hold(result, error):
        started.set()
        gate.wait(30)

    io.write_file_async(tmp_path / "blocker", b"b", callback=hold)
    assert started.wait(30)
    return gate


def _temps(folder) -> list[str]:
    return [n for n in os.listdir(folder) if n.endswith(TEMP_SUFFIX)]


def _run_script(code: str, cwd, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


# -- reading and writing ----------------------------------------------------------------------
def test_round_trip_bytes_and_str(io, tmp_path):
    p = tmp_path / "a.bin"
    payload = bytes(range(256)) * 1000
    assert io.write_file_async(p, payload).result() == len(payload)
    assert p.read_bytes() == payload
    assert io.read_file_async(p).result() == payload
    text = "prix: 12,5 €\r\nligne 2\rfin\n"
    assert io.write_file_async(str(p), text).result() == len(text.encode("utf-8"))
    assert p.read_bytes() == text.encode("utf-8")            # UTF-8, no newline translation
    with open(p, encoding="utf-8") as f:                     # the reference: text mode
        expected = f.read()
    got = io.read_file_async(p, mode="r").result()
    assert isinstance(got, str) and got == expected
    assert io.read_file_async(os.fsencode(p)).result() == text.encode("utf-8")  # bytes path
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert io.read_file_async(empty).result() == b""


def test_bytes_like_data_is_snapshotted(io, tmp_path):
    arr = np.arange(30, dtype=np.int32).reshape(5, 6)
    cases = {
        "bytearray": bytearray(b"abc" * 100),
        "memoryview": memoryview(b"xyz" * 50),
        "numpy": arr,
        "numpy-strided": arr[:, ::2],
    }
    for name, data in cases.items():
        expected = np.ascontiguousarray(data).tobytes() if isinstance(data, np.ndarray) else bytes(data)
        gate = _blocked(io, tmp_path)
        fut = io.write_file_async(tmp_path / name, data)
        if isinstance(data, bytearray):
            data[:3] = b"ZZZ"                                 # after submission: not written
        if isinstance(data, np.ndarray):
            arr[0, 0] = -1
        gate.set()
        assert fut.result() == len(expected)
        assert (tmp_path / name).read_bytes() == expected, name
        arr[0, 0] = 0


def test_non_regular_file_reads_to_eof(io):
    p = "/proc/self/cmdline"
    if not os.path.exists(p):
        pytest.skip("no /proc")
    with open(p, "rb") as f:
        expected = f.read()
    assert os.stat(p).st_size == 0 and expected
    assert io.read_file_async(p).result() == expected


def test_relative_paths_resolve_at_submission(io, tmp_path, monkeypatch):
    (tmp_path / "d1").mkdir()
    (tmp_path / "d2").mkdir()
    monkeypatch.chdir(tmp_path / "d1")
    gate = _blocked(io, tmp_path)
    fut = io.write_file_async("rel.txt", b"one")
    monkeypatch.chdir(tmp_path / "d2")
    gate.set()
    fut.result()
    assert (tmp_path / "d1" / "rel.txt").read_bytes() == b"one"
    assert not (tmp_path / "d2" / "rel.txt").exists()
    assert str(tmp_path / "d1" / "rel.txt") in io.io_stats()["paths"]


def test_bad_input(fio, io, tmp_path):
    for bad in (123, None, 1.5, ["a"]):
        with pytest.raises(TypeError, match="path"):
            io.read_file_async(bad)
        with pytest.raises(TypeError, match="path"):
            io.write_file_async(bad, b"x")
        with pytest.raises(TypeError, match="path"):
            io.open_mmap(bad)
    for bad in (123, None, [1, 2], 1.5):
        with pytest.raises(TypeError, match="data"):
            io.write_file_async(tmp_path / "x", bad)
    with pytest.raises(ValueError, match="data"):
        io.write_file_async(tmp_path / "x", "lone surrogate \ud800")
    for bad in ("wb", "rt", "b", ""):
        with pytest.raises(ValueError, match="mode"):
            io.read_file_async(tmp_path / "x", mode=bad)
    with pytest.raises(TypeError, match="mode"):              # a type, not a value: TypeError
        io.read_file_async(tmp_path / "x", mode=None)
    with pytest.raises(TypeError, match="callback"):
        io.read_file_async(tmp_path / "x", callback="print")
    with pytest.raises(TypeError, match="callback"):
        io.write_file_async(tmp_path / "x", b"", callback=1)
    with pytest.raises(TypeError, match="fsync"):
        fio.IOManager(fsync="yes")
    with pytest.raises(ValueError, match="pool_per_class"):
        fio.IOManager(pool_per_class=-1)
    assert not (tmp_path / "x").exists()                      # nothing was queued
    assert io.io_stats()["totals"] == dict.fromkeys(
        ["reads", "writes", "bytes_read", "bytes_written", "opens", "closes", "errors"], 0)


# -- callbacks and errors ------------------------------------------------------------------------
def test_callback_gets_result_or_error_before_the_future(io, tmp_path):
    seen = []

    def cb(result, error):
        time.sleep(0.02)                                      # a slow callback still finishes first
        seen.append((result, error))

    p = tmp_path / "f"
    fut = io.write_file_async(p, b"12345", callback=cb)
    assert fut.result() == 5
    assert seen == [(5, None)]                                # ran before the future resolved
    fut = io.read_file_async(p, callback=cb)
    assert fut.result() == b"12345" and seen[-1] == (b"12345", None)

    missing = io.read_file_async(tmp_path / "missing", callback=cb)
    error = missing.exception()
    assert isinstance(error, FileNotFoundError)
    assert seen[-1][0] is None and seen[-1][1] is error      # the same exception, both places
    bad_dir = io.write_file_async(tmp_path / "no" / "such" / "dir", b"x", callback=cb)
    assert isinstance(bad_dir.exception(), FileNotFoundError) and seen[-1][1] is bad_dir.exception()
    (tmp_path / "latin1").write_bytes("é".encode("latin-1"))
    assert isinstance(io.read_file_async(tmp_path / "latin1", mode="r").exception(), UnicodeDecodeError)
    stats = io.io_stats()
    assert stats["totals"]["errors"] == 3
    assert stats["paths"][str(tmp_path / "missing")]["errors"] == 1


def test_a_raising_callback_does_not_kill_the_worker(io, tmp_path, caplog):
    def boom(result, error):
        raise RuntimeError("callback failure")

    def exit_(result, error):
        raise SystemExit(3)

    p = tmp_path / "f"
    with caplog.at_level(logging.ERROR, logger="admf_perf.resources.fileio"):
        assert io.write_file_async(p, b"data", callback=boom).result() == 4   # op result kept
        assert io.read_file_async(p, callback=exit_).result() == b"data"
        assert isinstance(io.read_file_async(tmp_path / "nope", callback=boom).exception(),
                          FileNotFoundError)
        assert io.read_file_async(p).result() == b"data"      # the worker is alive
    assert io.io_stats()["callback_errors"] == 3
    messages = [r for r in caplog.records if r.name == "admf_perf.resources.fileio"]
    assert len(messages) == 3 and "callback failure" in (messages[0].exc_text or "")


def test_flush_inside_a_callback_is_refused(io, tmp_path):
    errors = []

    def cb(result, error):
        try:
            io.flush()
        except RuntimeError as exc:
            errors.append(exc)

    io.write_file_async(tmp_path / "f", b"x", callback=cb).result()
    assert len(errors) == 1 and "callback" in str(errors[0])


def test_cancelled_while_queued_is_not_run(io, tmp_path):
    gate = _blocked(io, tmp_path)
    fut = io.write_file_async(tmp_path / "cancelled", b"x")
    keep = io.write_file_async(tmp_path / "kept", b"y")
    assert fut.cancel()
    gate.set()
    io.flush()
    assert fut.cancelled() and keep.result() == 1
    assert not (tmp_path / "cancelled").exists() and (tmp_path / "kept").read_bytes() == b"y"


# -- ordering, flush, shutdown -----------------------------------------------------------------
def test_order_matches_a_sequential_model(fio, tmp_path):
    rng = random.Random(5)
    paths = [tmp_path / f"p{i}" for i in range(3)]
    model: dict[Path, bytes] = {}
    expected: list[tuple[Future, bytes | type]] = []
    with fio.IOManager(fsync=False) as io:
        for _ in range(400):
            p = rng.choice(paths)
            if rng.random() < 0.5:
                data = rng.randbytes(rng.randrange(0, 3000))
                model[p] = data
                expected.append((io.write_file_async(p, data), len(data)))
            elif rng.random() < 0.8:
                fut = io.read_file_async(p)
                expected.append((fut, model.get(p, FileNotFoundError)))
            else:
                fut = io.read_file_async(p, mode="r")
                want = model.get(p, FileNotFoundError)
                if isinstance(want, bytes):
                    try:
                        want = want.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
                    except UnicodeDecodeError:
                        want = UnicodeDecodeError
                expected.append((fut, want))
        io.flush()
        assert all(fut.done() for fut, _ in expected)         # flush waited for all
    for fut, want in expected:
        if isinstance(want, type):
            assert isinstance(fut.exception(), want)
        else:
            assert fut.result() == want
    for p in paths:
        assert p.read_bytes() == model[p]


def test_callbacks_run_before_the_next_operation(io, tmp_path):
    """A callback, or a done-callback added to a future, runs (on the worker) before the next
    queued operation starts, so a change it makes is seen by that operation."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"A")
    b.write_bytes(b"old")
    gate = _blocked(io, tmp_path)
    first = io.read_file_async(a)
    (tmp_path / "b.new").write_bytes(b"changed by a done-callback")
    first.add_done_callback(lambda f: os.replace(tmp_path / "b.new", b))   # a new inode
    second = io.read_file_async(b)
    gate.set()
    assert first.result() == b"A"
    assert second.result() == b"changed by a done-callback"
    (tmp_path / "b.new").write_bytes(b"changed by a callback")   # the same with callback=
    third = io.read_file_async(a, callback=lambda r, e: os.replace(tmp_path / "b.new", b))
    assert io.read_file_async(b).result() == b"changed by a callback" and third.result() == b"A"


def test_threads_submitting_concurrently(fio, tmp_path):
    with fio.IOManager(fsync=False) as io:
        def writer(t):
            for i in range(50):
                io.write_file_async(tmp_path / f"t{t}", f"{t}:{i}")

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    for t in range(4):                                        # per path, the last write wins
        assert (tmp_path / f"t{t}").read_text() == f"{t}:49"
    assert not _temps(tmp_path)


def test_flush_waits_for_queued_operations(io, tmp_path):
    io.flush()                                                # nothing yet: returns
    gate = _blocked(io, tmp_path)
    futures = [io.write_file_async(tmp_path / f"w{i}", b"%d" % i) for i in range(10)]
    assert not any(f.done() for f in futures)
    threading.Timer(0.1, gate.set).start()
    io.flush()
    assert all(f.done() for f in futures)
    gate2 = _blocked(io, tmp_path)
    io.write_file_async(tmp_path / "late", b"x")
    with pytest.raises(TimeoutError):
        io.flush(timeout=0.05)
    gate2.set()
    io.flush()


def test_shutdown_drains_then_refuses(fio, tmp_path):
    io = fio.IOManager()
    gate = _blocked(io, tmp_path)
    futures = [io.write_file_async(tmp_path / f"s{i}", b"%d" % i) for i in range(20)]
    io.shutdown(wait=False)                                   # returns at once; nothing is lost
    assert io.closed and not all(f.done() for f in futures)
    with pytest.raises(RuntimeError, match="shut down"):
        io.read_file_async(tmp_path / "s1")
    with pytest.raises(RuntimeError, match="shut down"):
        io.write_file_async(tmp_path / "s1", b"x")
    gate.set()
    io.shutdown(wait=True)                                    # idempotent; waits
    assert all(f.result() == len(b"%d" % i) for i, f in enumerate(futures))
    assert [(tmp_path / f"s{i}").read_bytes() for i in range(20)] == [b"%d" % i for i in range(20)]
    io.flush()                                                # drained: returns
    # synchronous parts keep working
    with io.open_mmap(tmp_path / "s1") as m:
        assert m[:] == b"1"
    io.release_buffer(io.get_buffer(10))


def test_context_manager_shuts_down(fio, tmp_path):
    with fio.IOManager() as io:
        fut = io.write_file_async(tmp_path / "c", b"ctx")
    assert io.closed and fut.result() == 3
    with pytest.raises(RuntimeError):
        io.read_file_async(tmp_path / "c")


def test_dropped_manager_drains(fio, tmp_path):
    io = fio.IOManager(fsync=False)
    gate = _blocked(io, tmp_path)
    futures = [io.write_file_async(tmp_path / f"d{i}", b"z" * i) for i in range(30)]
    worker = io._thread
    del io
    gc.collect()
    gate.set()
    worker.join(30)
    assert not worker.is_alive()                              # ended after draining
    assert all(f.result() == i for i, f in enumerate(futures))
    assert all((tmp_path / f"d{i}").read_bytes() == b"z" * i for i in range(30))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
# 3.12+ warns of fork in a threaded process: forking one is the point of the test
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_child_gets_a_working_manager(fio, tmp_path):
    io = fio.IOManager(fsync=False)
    try:
        gate = _blocked(io, tmp_path)                         # the parent's worker is busy
        parent_write = io.write_file_async(tmp_path / "parent", b"from the parent")
        pid = os.fork()
        if pid == 0:                                          # child: never return into pytest
            code = 1
            try:
                fut = io.write_file_async(tmp_path / "child", b"from the child")
                if fut.result(10) == 14 and io.read_file_async(tmp_path / "child").result(10) \
                        == b"from the child":
                    code = 0
                io.flush(10)
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert (tmp_path / "child").read_bytes() == b"from the child"
        assert not (tmp_path / "parent").exists()             # the child did not run it
        gate.set()
        assert parent_write.result() == 15
        assert (tmp_path / "parent").read_bytes() == b"from the parent"
    finally:
        io.shutdown()


def test_singleton(fio):
    a = fio.IOManager.get_instance()
    assert a is fio.IOManager.get_instance()
    assert fio.IOManager() is not a and not a.closed


# -- atomic writes --------------------------------------------------------------------------
def test_atomic_write_metadata(io, tmp_path):
    p = tmp_path / "perm"
    p.write_bytes(b"old")
    os.chmod(p, 0o640)
    io.write_file_async(p, b"new").result()
    assert p.read_bytes() == b"new" and stat.S_IMODE(os.stat(p).st_mode) == 0o640
    ref = tmp_path / "ref"
    ref.write_bytes(b"")                                      # open()'s mode: 0o666 less the umask
    io.write_file_async(tmp_path / "fresh", b"x").result()
    assert stat.S_IMODE(os.stat(tmp_path / "fresh").st_mode) == stat.S_IMODE(os.stat(ref).st_mode)
    target = tmp_path / "target"
    target.write_bytes(b"t0")
    link = tmp_path / "link"
    link.symlink_to(target)
    io.write_file_async(link, b"t1").result()
    assert link.is_symlink() and target.read_bytes() == b"t1"
    assert not _temps(tmp_path)


def test_failed_write_keeps_the_old_file(fio, io, tmp_path, monkeypatch):
    p = tmp_path / "keep"
    p.write_bytes(b"precious")
    for stage in ("opened", "chunk", "written"):
        def hook(s, stage=stage):
            if s == stage:
                raise OSError(28, "simulated: no space left")

        monkeypatch.setattr(fio.operations, "_write_hook", hook)
        fut = io.write_file_async(p, b"replacement" * 100)
        assert isinstance(fut.exception(), OSError), stage
        assert p.read_bytes() == b"precious"
        assert not _temps(tmp_path)                           # the temporary file is removed
    monkeypatch.setattr(fio.operations, "_write_hook", None)
    d = tmp_path / "adir"
    d.mkdir()
    (d / "inside").write_bytes(b"i")
    assert isinstance(io.write_file_async(d, b"x").exception(), OSError)
    assert (d / "inside").read_bytes() == b"i" and not _temps(tmp_path)
    assert io.io_stats()["paths"][str(p)]["errors"] == 3


@pytest.mark.parametrize("stage", ["opened", "chunk", "written", "replaced"])
def test_process_exit_inside_the_write_keeps_a_whole_file(tmp_path, stage):
    p = tmp_path / "data.bin"
    old = b"old content " * 1000
    p.write_bytes(old)
    new = bytes(range(256)) * 256                             # 64 KiB, 16 chunks of 4 KiB
    code = f"""
        import os
        from admf_perf import fileio
        from admf_perf.resources.fileio import operations
        operations._CHUNK = 4096
        def hook(s):
            if s == {stage!r}:
                os._exit(17)
        operations._write_hook = hook
        fileio.IOManager().write_file_async({str(p)!r}, bytes(range(256)) * 256).result()
        os._exit(0)
    """
    result = _run_script(code, tmp_path)
    assert result.returncode == 17, result.stderr
    assert p.read_bytes() == (new if stage == "replaced" else old)
    leftovers = _temps(tmp_path)
    assert all(n.startswith(".data.bin.") for n in leftovers)
    assert (len(leftovers) == 1) == (stage != "replaced")
    assert sorted(os.listdir(tmp_path)) == sorted(["data.bin", *leftovers])
    with __import__("admf_perf").fileio.IOManager() as io:   # a reader sees the target only
        assert io.read_file_async(p).result() == p.read_bytes()


@pytest.mark.parametrize("delay", [0.02, 0.07, 0.13])
def test_sigkill_during_large_writes_keeps_a_whole_file(tmp_path, delay):
    p = tmp_path / "big.bin"
    size = 32 << 20
    p.write_bytes(b"\x00" * size)
    # fsync=False: the claim is about a killed process (the page cache survives
    # it); the time then goes to the writes themselves, where a kill is likeliest.
    code = f"""
        from admf_perf import fileio
        from admf_perf.resources.fileio import operations
        operations._CHUNK = 1 << 20
        io = fileio.IOManager(fsync=False)
        io.write_file_async({str(p)!r}, b"\\x01" * {size}).result()
        print("written", flush=True)
        previous = None
        for k in range(2, 10000):                 # at most two writes queued
            future = io.write_file_async({str(p)!r}, bytes([k % 256]) * {size})
            if previous is not None:
                previous.result()
            previous = future
    """
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "written\n"
        time.sleep(delay)                                     # writes of 32 MiB are in progress
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    data = p.read_bytes()
    assert len(data) == size and data == data[:1] * size       # one whole version, never a mix
    assert data[:1] != b"\x00"
    assert all(n.startswith(".big.bin.") for n in _temps(tmp_path))


@pytest.mark.parametrize("ending", ["end", "sys.exit", "exception", "dropped"])
def test_queued_writes_survive_interpreter_exit(tmp_path, ending):
    code = f"""
        import sys, threading, time
        from admf_perf import fileio
        io = fileio.IOManager() if {ending!r} == "dropped" else fileio.IOManager.get_instance()
        io.write_file_async("blocker", b"b", callback=lambda r, e: time.sleep(0.3))
        for i in range(40):
            io.write_file_async(f"f{{i}}", b"%d" % i)
        for i in range(25):
            io.write_file_async("same", "version %d" % i)
        # the blocker may be written already (its callback holds the worker);
        # the rest is still queued at exit
        assert io.io_stats()["totals"]["writes"] <= 1
        if {ending!r} == "dropped":
            del io
        elif {ending!r} == "sys.exit":
            sys.exit(0)
        elif {ending!r} == "exception":
            raise ValueError("boom")
    """
    result = _run_script(code, tmp_path)
    assert result.returncode == (1 if ending == "exception" else 0), result.stderr
    for i in range(40):
        assert (tmp_path / f"f{i}").read_bytes() == b"%d" % i
    assert (tmp_path / "same").read_text() == "version 24"
    assert not _temps(tmp_path)


# -- memory maps ---------------------------------------------------------------------------
def test_mmap_bytes(fio, io, tmp_path):
    gran = mmap.ALLOCATIONGRANULARITY
    p = tmp_path / "m.bin"
    data = np.random.default_rng(2).integers(0, 256, 2 * gran + 100, dtype=np.uint8).tobytes()
    p.write_bytes(data)
    with io.open_mmap(p) as m:
        assert isinstance(m, mmap.mmap) and isinstance(m, fio.MappedBytes)
        assert m[:] == data and len(m) == len(data)
        with pytest.raises(TypeError):
            m[0] = 1                                          # read-only
    assert m.closed
    with io.open_mmap(p, shape=100, offset=gran) as m:
        assert m[:] == data[gran:gran + 100]
    with io.open_mmap(p, mode="c") as m:
        m[0:3] = b"XYZ"
        assert m[:3] == b"XYZ"
    assert p.read_bytes() == data                             # copy-on-write: file unchanged
    with io.open_mmap(p, mode="r+") as m:
        m[0:3] = b"ABC"
    assert p.read_bytes() == b"ABC" + data[3:]
    m = io.open_mmap(p)
    m.close()
    m.close()                                                 # counted once
    with pytest.raises(ValueError, match="offset"):
        io.open_mmap(p, offset=1)
    with pytest.raises(ValueError, match="shape"):
        io.open_mmap(p, shape=(2, 3))
    with pytest.raises(ValueError, match="mode"):
        io.open_mmap(p, mode="w")
    with pytest.raises(FileNotFoundError):
        io.open_mmap(tmp_path / "missing")
    counters = io.io_stats()["paths"][str(p)]
    assert counters["opens"] == counters["closes"] == 5
    assert io.io_stats()["totals"]["errors"] == 1             # the missing file (bad args: not counted)


def test_mmap_numpy(fio, io, tmp_path):
    p = tmp_path / "arr.f8"
    ref = np.random.default_rng(3).normal(size=1000)
    ref.tofile(p)
    with io.open_mmap(p, dtype="<f8") as a:
        assert isinstance(a, np.memmap) and isinstance(a, fio.MappedArray)
        np.testing.assert_array_equal(a, np.fromfile(p, dtype="<f8"))
        with pytest.raises(ValueError):
            a[0] = 1.0                                        # read-only
        view = a[10:20]
        view.close()                                          # a view: no close counted
    with io.open_mmap(p, dtype="<f8", shape=(10, 5), offset=8) as a:
        np.testing.assert_array_equal(a, np.fromfile(p, dtype="<f8", offset=8, count=50).reshape(10, 5))
    with io.open_mmap(p, mode="r+", dtype="<f8") as a:
        a[:5] = -1.0
    expected = ref.copy()
    expected[:5] = -1.0
    np.testing.assert_array_equal(np.fromfile(p, dtype="<f8"), expected)
    with pytest.raises(TypeError, match="dtype"):
        io.open_mmap(p, dtype="not a dtype")
    counters = io.io_stats()["paths"][str(p)]
    assert counters["opens"] == counters["closes"] == 3


# -- buffers ---------------------------------------------------------------------------------
def _naive_class(size: int) -> int:
    c = 64
    while c < size:
        c *= 2
    return c


def test_buffer_size_classes_and_reuse(fio):
    io = fio.IOManager(pool_per_class=8)
    for size in [0, 1, 2, 63, 64, 65, 100, 1000, 4096, 4097, 1 << 20, (1 << 20) + 1]:
        buf = io.get_buffer(size)
        assert isinstance(buf, bytearray) and len(buf) == _naive_class(size) >= size
        assert io.buffer_class(size) == len(buf)
        io.release_buffer(buf)
    b1 = io.get_buffer(1000)
    io.release_buffer(b1)
    assert io.get_buffer(600) is b1                          # same class (1024): reused
    b2 = io.get_buffer(1000)
    assert b2 is not b1                                       # b1 is out: never two owners
    io.release_buffer(b1)
    io.release_buffer(b2)
    with pytest.raises(ValueError, match="already released"):
        io.release_buffer(b1)
    with pytest.raises(ValueError, match="not handed out"):
        io.release_buffer(bytearray(1024))
    other = fio.IOManager().get_buffer(1000)
    with pytest.raises(ValueError):
        io.release_buffer(other)
    with pytest.raises(TypeError, match="buf"):
        io.release_buffer(b"x" * 1024)
    with pytest.raises(ValueError, match="size"):
        io.get_buffer(-1)
    for bad in (1.5, "10", True, None):
        with pytest.raises(TypeError, match="size"):
            io.get_buffer(bad)


def test_buffer_pool_is_bounded(fio):
    io = fio.IOManager(pool_per_class=3)
    bufs = [io.get_buffer(4096) for _ in range(5)]
    assert len({id(b) for b in bufs}) == 5
    for b in bufs:
        io.release_buffer(b)
    stats = io.io_stats()["buffers"]
    assert stats == {"created": 5, "reused": 0, "released": 5, "dropped": 2, "in_use": 0, "idle": 3}
    again = [io.get_buffer(4096) for _ in range(5)]
    assert sum(any(a is b for b in bufs) for a in again) == 3
    shrunk = again[0]
    del shrunk[100:]                                          # resized by its owner: not pooled
    for b in again:
        io.release_buffer(b)
    assert io.io_stats()["buffers"]["idle"] == 3
    kept = [io.get_buffer(4096) for _ in range(3)]                # the idle ones, all whole
    assert io.io_stats()["buffers"]["reused"] == 6 and all(len(b) == 4096 for b in kept)
    assert fio.IOManager(pool_per_class=0).io_stats()["buffers"]["idle"] == 0


def test_buffers_have_one_owner_across_threads(fio):
    io = fio.IOManager(pool_per_class=2)
    held: set[int] = set()
    lock = threading.Lock()
    problems = []

    def work(seed):
        rng = random.Random(seed)
        for _ in range(400):
            size = rng.choice([100, 1000, 5000])
            buf = io.get_buffer(size)
            with lock:
                if id(buf) in held:
                    problems.append(id(buf))
                held.add(id(buf))
            buf[0] = seed
            with lock:
                held.discard(id(buf))
            io.release_buffer(buf)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = io.io_stats()["buffers"]
    assert not problems
    assert stats["in_use"] == 0 and stats["released"] == 1600 == stats["created"] + stats["reused"]
    assert stats["idle"] <= 2 * 3


# -- statistics ------------------------------------------------------------------------------
def test_io_stats_match_a_naive_tally(fio, tmp_path):
    rng = random.Random(9)
    paths = [tmp_path / f"s{i}" for i in range(4)]
    fields = ["reads", "writes", "bytes_read", "bytes_written", "opens", "closes", "errors"]
    expected = {str(p): dict.fromkeys(fields, 0) for p in paths}
    content: dict[Path, int] = {}
    with fio.IOManager(fsync=False) as io:
        for _ in range(300):
            p = rng.choice(paths)
            e = expected[str(p)]
            if rng.random() < 0.5:
                n = rng.randrange(0, 5000)
                io.write_file_async(p, b"w" * n)
                content[p] = n
                e["writes"] += 1
                e["bytes_written"] += n
                e["opens"] += 1
                e["closes"] += 1
            else:
                io.read_file_async(p)
                if p in content:
                    e["reads"] += 1
                    e["bytes_read"] += content[p]
                    e["opens"] += 1
                    e["closes"] += 1
                else:
                    e["errors"] += 1
        io.flush()
        stats = io.io_stats()
    got = {k: v for k, v in stats["paths"].items() if k in expected}
    assert got == {k: v for k, v in expected.items() if any(v.values())}
    for f in fields:
        assert stats["totals"][f] == sum(v[f] for v in stats["paths"].values())
    assert set(stats) == {"paths", "totals", "callback_errors", "buffers"}


# -- benchmark scenario --------------------------------------------------------------------------
def test_bench_scenario_reads_the_files(monkeypatch):
    bench = importlib.import_module("admf_perf.bench.fileio")
    from admf_perf.bench.scenario import _REGISTRY

    scenario = _REGISTRY["IOManager read 200 x 1 MiB"]
    assert scenario.group == "fileio" and scenario.gate.max_ratio == 1.5
    assert scenario.gate.anchors == ("synchronous loop",)
    monkeypatch.setattr(bench, "FILES", 20)                   # a small set for the test
    bench.bench_files.cache_clear()
    try:
        (paths,) = bench.bench_files(True)
        assert len(paths) == 20 and len(set(paths)) == 20
        assert all(os.path.getsize(p) == bench.FILE_SIZE for p in paths)
        for impl in scenario.implementations:
            timed = scenario.build(impl, quick=True)          # runs the loop once
            assert timed.ops == 1
    finally:
        bench.bench_files.cache_clear()


def test_open_mmap_rejects_zero_length(io, tmp_path):
    """``shape=0`` would map the whole file (mmap's 0 means "everything")."""
    path = tmp_path / "ten.bin"
    path.write_bytes(b"0123456789")
    with pytest.raises(ValueError, match="shape"):
        io.open_mmap(path, shape=0)
    with io.open_mmap(path, shape=4) as m:
        assert bytes(m) == b"0123"


def test_release_of_odd_sized_buffer_leaves_no_size_class(io):
    buf = io.get_buffer(100)
    buf.extend(b"x")                       # the owner changed its length: not a size class
    io.release_buffer(buf)
    stats = io.io_stats()["buffers"]
    assert (stats["released"], stats["dropped"], stats["idle"]) == (1, 1, 0)
    assert len(io.get_buffer(100)) == 128  # a new buffer of the class, not the odd one
