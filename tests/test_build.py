"""The compiled hot paths are the ones loaded by default."""
import os

import pytest

from conftest import get_package

EXPECTED = {"_cache", "_keys"}


@pytest.mark.skipif(
    os.environ.get("ADMF_PERF_NO_EXTENSIONS", "").strip() not in ("", "0"),
    reason="pure-Python twins requested",
)
def test_compiled_modules_loaded_by_default():
    pkg = get_package("compiled")
    assert EXPECTED <= set(pkg.COMPILED), pkg.COMPILED
    missing = [name for name, compiled in pkg.COMPILED.items() if not compiled]
    assert not missing, f"compiled modules silently not loaded: {missing}"


def test_twins_selected_by_environment():
    pkg = get_package("python")
    assert EXPECTED <= set(pkg.COMPILED)
    assert not any(pkg.COMPILED.values()), pkg.COMPILED


def test_stubs_match_the_compiled_modules():
    """Every compiled module's .pyi agrees with it (mypy's stubtest, as pandas does)."""
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("mypy.stubtest")
    pkg = get_package("compiled")
    compiled = sorted(f"admf_perf._ext.{name}" for name, ok in pkg.COMPILED.items() if ok)
    if not compiled:
        pytest.skip("compiled modules not loaded")
    allowlist = Path(__file__).resolve().parent.parent / "scripts" / "stubtest_allowlist.txt"
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", *compiled, "--allowlist", str(allowlist),
         "--ignore-disjoint-bases"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
