"""The CPython internals of the compiled modules (docs/internals.md): each is
on where its version guard allows it, and ADMF_PERF_PORTABLE=1 turns every
one off, so the public-API fallbacks run here too, on this interpreter."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig

import pytest

from conftest import ROOT

pytestmark = pytest.mark.skipif(
    os.environ.get("ADMF_PERF_NO_EXTENSIONS", "").strip() not in ("", "0"),
    reason="pure-Python twins requested: no internals to switch",
)

MODULES = ("_cache", "_indicators", "_timeseries", "_strategy")
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
V = sys.version_info[:2]

#: What each module uses by default on this interpreter (the version guards).
EXPECTED = {
    "_cache": {"type_vectorcall": True, "probe_tuples": V < (3, 14), "int_hash": True},
    "_indicators": {"tuple_reuse": V < (3, 14) and not FREE_THREADED, "update_fastcall": True},
    "_timeseries": {"int_digits": True, "tp_dict_method": True},
    "_strategy": {"view_regrow": not FREE_THREADED},
}

PROBE = (
    "import importlib, json\n"
    f"print(json.dumps({{m: importlib.import_module('admf_perf._ext.' + m)._internals_in_use() "
    f"for m in {MODULES!r}}}))\n"
)

#: The suites that run the fallbacks: cached calls without the vectorcall slot
#: or probe tuples, time series without the tp_dict method or int digits, the
#: indicators without result reuse or their fast update descriptors, the bar
#: loop with a new view of each indicator every bar.
PORTABLE_SUITES = (
    "tests/test_cache_api.py",
    "tests/test_functools_compat.py",
    "tests/test_concurrency.py",
    "tests/test_timeseries.py",
    "tests/test_indicators.py",
    "tests/test_strategy.py::test_every_bars_view_stays_as_it_was_shown",
    "tests/test_strategy.py::test_data_columns_read_each_bar_are_the_bars_shown_and_kept_ones_never_change",
)


def _portable_env() -> dict[str, str]:
    env = dict(os.environ, ADMF_PERF_PORTABLE="1")
    env.pop("ADMF_PERF_NO_EXTENSIONS", None)
    return env


def _in_use(env: dict[str, str]) -> dict[str, dict[str, bool]]:
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout)


def test_internals_follow_their_version_guards():
    if os.environ.get("ADMF_PERF_PORTABLE", "").strip() not in ("", "0"):
        pytest.skip("the suite itself runs portable")
    env = dict(os.environ)
    env.pop("ADMF_PERF_PORTABLE", None)
    assert _in_use(env) == EXPECTED


@pytest.mark.parametrize("value", ["1", "yes", "TRUE", "on", "portable"])
def test_portable_turns_every_internal_off(value):
    env = dict(_portable_env(), ADMF_PERF_PORTABLE=value)
    used = _in_use(env)
    assert set(used) == set(MODULES)
    assert not any(flag for module in used.values() for flag in module.values()), used


@pytest.mark.parametrize("value", ["", "0", "false", "No", "OFF"])
def test_off_words_keep_the_internals(value):
    env = dict(os.environ, ADMF_PERF_PORTABLE=value)
    assert _in_use(env) == EXPECTED


def test_cached_calls_without_the_vectorcall_slot():
    """The tp_call path (__call__) gives what the vectorcall slot gives:
    positional, keyword and method calls, hits and misses, the statistics."""
    code = (
        "from admf_perf import cached\n"
        "calls = []\n"
        "@cached(max_size=8)\n"
        "def f(a, b=2, *, c=3):\n"
        "    calls.append((a, b, c))\n"
        "    return a + b + c\n"
        "class K:\n"
        "    @cached(max_size=8)\n"
        "    def m(self, x, y=1):\n"
        "        return x * y\n"
        "k = K()\n"
        "out = [f(1), f(1), f(1, 5), f(1, b=5), f(1, c=4), f(1, c=4), k.m(3), k.m(3, y=2), k.m(3)]\n"
        "print(out, f.cache_info(), len(calls))\n"
        "from admf_perf._ext import _cache\n"
        "print(_cache._internals_in_use())\n"
    )
    outs = []
    for env in (dict(os.environ, ADMF_PERF_PORTABLE="0"), _portable_env()):
        env.pop("ADMF_PERF_NO_EXTENSIONS", None)
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                             timeout=120, check=True)
        outs.append(run.stdout.splitlines())
    assert outs[0][0] == outs[1][0]
    assert "[6, 6, 9, 9, 7, 7, 3, 6, 3]" in outs[0][0]
    assert outs[0][1] != outs[1][1]            # the two runs did take different paths


@pytest.mark.skipif(os.environ.get("ADMF_PERF_PORTABLE", "").strip() not in ("", "0"),
                    reason="already portable")
def test_suites_pass_on_the_fallbacks():
    """The suites of the modules with internals, again with every internal off
    (their fixtures on the compiled modules only: the twins have no internals
    to switch off; a test that compares the two still builds both)."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *PORTABLE_SUITES],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
        env=dict(_portable_env(), ADMF_PERF_TEST_IMPLS="compiled", ADMF_PERF_TEST_THREAD_IMPLS="compiled"))
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
