"""The smoke subset, run against an installed admf_perf (a wheel, or an
install from source): what .ci/run, noxfile.py and scripts/wheel_smoke.sh run
on every interpreter besides the default one.

    python scripts/smoke.py [pytest options]

1. import admf_perf; every compiled module loads compiled
   (``admf_perf._ext.COMPILED`` all true);
2. one test module per area (``SMOKE_TESTS``), on the compiled modules: what
   a wheel brings (the pure-Python twins are the same files everywhere, run
   by the default interpreter's full pass); ``ADMF_PERF_TEST_IMPLS`` set by
   the caller wins;
3. ``admf-perf optimize`` on a small grid.

Run it from the repository root (the tests and ../shared are read there); the
package under test is the installed one, never ``src/``.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: One test module per area: keys, caching (policies on real traces),
#: indicators, incremental state, risk, memory (pool, time series), the build.
SMOKE_TESTS = (
    "tests/test_keys.py",
    "tests/test_trace.py",
    "tests/test_indicators_compiled.py",
    "tests/test_incremental.py",
    "tests/test_risk.py",
    "tests/test_pool.py",
    "tests/test_timeseries.py",
    "tests/test_build.py",
)

#: The compiled modules every platform builds (_ind_simd, _ind_bank_simd: x86-64 only).
COMPILED_MODULES = ("_bench", "_cache", "_indicators", "_keys", "_pool", "_risk", "_timeseries")


def check_compiled() -> None:
    import admf_perf
    from admf_perf._ext import COMPILED, load

    if Path(admf_perf.__file__).resolve().is_relative_to(ROOT / "src"):
        raise SystemExit(f"smoke: admf_perf imported from the source tree ({admf_perf.__file__}), "
                         "not from an install")
    for name in COMPILED_MODULES:
        load(name)
    missing = sorted(name for name, ok in COMPILED.items() if not ok)
    if missing:
        raise SystemExit(f"smoke: not compiled: {missing}")
    print(f"smoke: admf_perf {admf_perf.__version__} on CPython {sys.version.split()[0]}: "
          f"{len(COMPILED)} modules compiled ({Path(admf_perf.__file__).parent})", flush=True)


def main(argv: list[str]) -> int:
    os.chdir(ROOT)
    check_compiled()
    env = {**os.environ, "ADMF_PERF_TEST_IMPLS": os.environ.get("ADMF_PERF_TEST_IMPLS", "compiled")}
    rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          *SMOKE_TESTS, *argv], env=env)
    if rc:
        return rc
    cli = Path(sys.executable).with_name("admf-perf")
    return subprocess.call([str(cli) if cli.exists() else "admf-perf",
                            "optimize", "--fast", "5:20:5", "--slow", "30:60:10"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
