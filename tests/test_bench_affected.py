"""The regression check's selection of the parent's workers
(admf_perf.bench.affected, callgrind's per-object costs)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import admf_perf._ext
from admf_perf.bench import affected, callgrind

EXT = Path(admf_perf._ext.__file__).parent
SHARED_OBJECTS = sorted(EXT.glob("*.so"))

DUMP = """\
# callgrind format
version: 1
events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
summary: 180 0 0 0 0 0 0 0 0
ob=/venv/lib/python3.11/site-packages/admf_perf/_ext/_cache.cpython-311-x86_64-linux-gnu.so
fl=_cache.c
fn=get
0 100 1 1
cob=/usr/lib/libpython3.11.so.1.0
cfn=PyObject_Hash
calls=3 0
0 999 9 9
0 5
ob=(2) /usr/lib/libpython3.11.so.1.0
fn=PyObject_Hash
0 60
ob=(1)
fn=set
+2 10
ob=(3) /venv/lib/python3.11/site-packages/admf_perf/_ext/_bench.cpython-311-x86_64-linux-gnu.so
fn=admf_perf_bench_region
* 5
totals: 180 0 0 0 0 0 0 0 0
"""


def test_per_object_costs_are_self_costs_and_name_the_package_modules(tmp_path):
    path = tmp_path / "cg.1.1"
    path.write_text(DUMP.replace("ob=(1)\n", "ob=(1) /usr/lib/libc.so.6\n"))
    objects = callgrind.parse_dump_objects(path)
    # the call's inclusive 999 is not counted; the self costs sum to the totals
    assert objects == {
        "/venv/lib/python3.11/site-packages/admf_perf/_ext/_cache.cpython-311-x86_64-linux-gnu.so": 105,
        "/usr/lib/libpython3.11.so.1.0": 60,
        "/usr/lib/libc.so.6": 10,
        "/venv/lib/python3.11/site-packages/admf_perf/_ext/_bench.cpython-311-x86_64-linux-gnu.so": 5,
    }
    assert sum(objects.values()) == callgrind.parse_dump(path)["Ir"]
    assert callgrind.package_objects(objects) == {"_cache": 105, "_bench": 5}
    assert callgrind.package_objects({"C:\\env\\Lib\\site-packages\\admf_perf\\_ext\\_keys.cp311-win_amd64.pyd": 7,
                                      "/elsewhere/_ext/_keys.so": 3}) == {"_keys": 7}


@pytest.mark.parametrize(("paths", "expected"), [
    ([], True),
    (["src/admf_perf/_ext/_cache.pyx", "src/admf_perf/_ext/include/admf_sketch.h", "setup.py",
      "src/admf_perf/_ext/_indicators_classes.pxi.in", "src/admf_perf/_ext/_cache.pyi", "src/admf_perf/py.typed"],
     True),
    (["src/admf_perf/_ext/_cache.pyx", "src/admf_perf/caching/cache.py"], False),
    (["src/admf_perf/_ext/_cache_py.py"], False),
    (["pyproject.toml"], False),
])
def test_only_compiled_sources_narrow_the_selection(paths, expected):
    assert affected.compiled_only(paths) is expected


def _objcopy(src: Path, dst: Path, *options: str) -> Path:
    if shutil.which("objcopy") is None:
        pytest.skip("objcopy (binutils) not installed")
    subprocess.run(["objcopy", *options, str(src), str(dst)], check=True)
    return dst


@pytest.mark.skipif(len(SHARED_OBJECTS) < 2, reason="the compiled modules are not built (ELF)")
def test_loaded_digest_ignores_what_is_not_loaded_and_sees_the_code(tmp_path):
    first, second = SHARED_OBJECTS[0], SHARED_OBJECTS[1]
    digest = affected.loaded_digest(first)
    assert digest is not None and digest == affected.loaded_digest(shutil.copy(first, tmp_path / "copy.so"))
    # no debug sections, another build id, a comment: the same loaded code
    stripped = _objcopy(first, tmp_path / "stripped.so", "--strip-debug", "--remove-section=.comment",
                        "--remove-section=.note.gnu.build-id")
    assert stripped.read_bytes() != first.read_bytes() and affected.loaded_digest(stripped) == digest
    # a byte of the loaded data changed: another digest
    data = tmp_path / "data.so"
    rodata = tmp_path / "rodata.bin"
    _objcopy(first, tmp_path / "dump.so", f"--dump-section=.rodata={rodata}")
    raw = bytearray(rodata.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    rodata.write_bytes(bytes(raw))
    _objcopy(first, data, f"--update-section=.rodata={rodata}")
    assert affected.loaded_digest(data) != digest
    assert affected.loaded_digest(second) != digest
    text = tmp_path / "not-elf.so"
    text.write_text("MZ not an ELF file")
    assert affected.loaded_digest(text) is None


@pytest.mark.skipif(len(SHARED_OBJECTS) < 3, reason="the compiled modules are not built (ELF)")
def test_changed_modules_are_those_whose_code_differs_or_that_one_side_lacks(tmp_path):
    a, b, c = SHARED_OBJECTS[:3]
    base, head = tmp_path / "base", tmp_path / "head"
    base.mkdir()
    head.mkdir()
    shutil.copy(a, base / "_same.cpython-311-x86_64-linux-gnu.so")
    _objcopy(a, head / "_same.cpython-311-x86_64-linux-gnu.so", "--strip-debug")
    shutil.copy(b, base / "_moved.cpython-311-x86_64-linux-gnu.so")
    shutil.copy(c, head / "_moved.cpython-311-x86_64-linux-gnu.so")
    shutil.copy(b, head / "_new.cpython-311-x86_64-linux-gnu.so")
    (base / "_other.py").write_text("")
    (head / "not-a-module.txt").write_text("")
    assert affected.changed_modules(base, head) == {"_moved", "_new"}
    assert affected.changed_modules(base, base) == set()


def _scenario(name, worker, ours_objects, unit="cycles/op", deterministic=True, skipped=None, anchors=()):
    impls = []
    if ours_objects is not False:
        counted = unit == "cycles/op" and skipped is None
        impls.append({"name": "ours", "role": "ours", "events_per_op": {"Ir": 1.0} if counted else None,
                      "objects_ir_per_op": ours_objects if counted else None})
    impls += [{"name": a, "role": "anchor", "events_per_op": {"Ir": 2.0}, "objects_ir_per_op": {}} for a in anchors]
    return {"name": name, "worker": worker, "unit": unit, "deterministic": deterministic, "skipped": skipped,
            "implementations": impls}


RECORD = {"tool": "admf-perf bench", "mode": "instructions", "scenarios": [
    _scenario("floors", "core", False, anchors=("empty call",)),
    _scenario("Cache.get hit", "caching", {"_cache": 300.0, "_bench": 0.0}, anchors=("cachebox",)),
    _scenario("Zipf LRU", "caching", {"_cache": 200.0, "_keys": 10.0}),
    _scenario("SMA.update", "indicators", {"_indicators": 50.0}),
    _scenario("SMA.batch", "indicators", {"_indicators": 5.0, "_ind_simd": 90.0}),
    _scenario("on_price", "core", {"_risk": 30.0}),
    _scenario("grid, 2 workers", "strategy", None, skipped="wall-clock only"),
    _scenario("memory per point", None, {}, unit="B/point"),
    _scenario("peak RSS", None, {}, unit="MB", deterministic=False),
]}


def test_the_parent_is_measured_in_the_workers_whose_loops_ran_a_changed_module():
    names, why = affected.scenarios_to_measure(RECORD, {"_ind_simd"})
    assert names == ["SMA.update", "SMA.batch", "memory per point"]    # the whole worker, and bytes counted
    assert "'indicators' runs _ind_simd" in why and "not measured: 'caching', 'core' (" in why
    names, _ = affected.scenarios_to_measure(RECORD, {"_keys", "_risk", "_pool"})
    assert names == ["floors", "on_price", "Cache.get hit", "Zipf LRU", "memory per point"]
    names, why = affected.scenarios_to_measure(RECORD, {"_pool"})
    assert names == ["memory per point"] and "no measured loop of ours runs a changed module (_pool)" in why
    names, why = affected.scenarios_to_measure(RECORD, set())
    assert names == ["memory per point"]


EVERYTHING = ["floors", "on_price", "Cache.get hit", "Zipf LRU", "SMA.update", "SMA.batch", "memory per point"]


def test_an_older_record_measures_everything_the_head_measured():
    assert affected.everything(RECORD) == EVERYTHING
    old = json.loads(json.dumps(RECORD))
    for s in old["scenarios"]:
        s.pop("worker")
    assert sorted(affected.scenarios_to_measure(old, {"_pool"})[0]) == sorted(EVERYTHING)
    old = json.loads(json.dumps(RECORD))
    for s in old["scenarios"]:
        for impl in s["implementations"]:
            impl.pop("objects_ir_per_op", None)
    names, why = affected.scenarios_to_measure(old, {"_pool"})
    assert names == EVERYTHING and "older record" in why


@pytest.mark.skipif(len(SHARED_OBJECTS) < 1, reason="the compiled modules are not built (ELF)")
def test_command_prints_the_names_or_all(tmp_path, capsys):
    record = tmp_path / "head.json"
    record.write_text(json.dumps(RECORD))
    base, head = tmp_path / "base", tmp_path / "head"
    base.mkdir()
    head.mkdir()
    shutil.copy(SHARED_OBJECTS[0], base / "_cache.so")
    shutil.copy(SHARED_OBJECTS[-1], head / "_cache.so")
    args = ["--record", str(record), "--base-ext", str(base), "--head-ext", str(head)]
    assert affected.main([*args, "--changed", "src/admf_perf/_ext/_cache.pyx"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["Cache.get hit", "Zipf LRU", "memory per point"]
    assert "'caching' runs _cache" in err
    assert affected.main([*args, "--changed", "src/admf_perf/caching/cache.py"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == EVERYTHING and "src/admf_perf/caching/cache.py" in err
    assert affected.main(["--record", str(tmp_path / "none.json"), "--base-ext", str(base),
                          "--head-ext", str(head)]) == 2
