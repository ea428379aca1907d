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
