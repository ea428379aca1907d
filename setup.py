"""Build the compiled hot paths under src/admf_perf/_ext with Cython.

Every ``.pyx`` there is one extension module; speed directives live in each
file's header.  Templates (``*.pxi.in``, Cython's Tempita) are expanded first:
one table of classes, written out once per use (see TEMPLATES).

Compiler flags: ``-ffp-contract=off`` everywhere (no fused multiply-adds: the
order of operations is part of the results, which are bit-identical on every
compiler and CPU); the indicators' loops are also unrolled.  On x86-64 the
indicators' runs and IndicatorBank's updates are built a second time for
AVX2 and FMA (``_ind_simd``, ``_ind_bank_simd``: SIMD_MODULES, loaded only on
a CPU that has both).

Cython's C goes under ``build/cython-<toolchain>/``, one tree per Python,
Cython and numpy version: the C Cython writes depends on all three (numpy's
``__init__.pxd``, the interpreter's headers), and a tree shared by two
toolchains (an in-tree ``pip install`` for another interpreter beside a
developer's ``build_ext --inplace``) would hand one of them the other's C.

Both halves run on every CPU this process may use (JOBS; the environment
variable ADMF_PERF_BUILD_JOBS=N sets it): Cython's translation in a process
pool, the C compilations in build_ext's threads, largest unit first (the
indicators' three take most of the time).  A build_ext ``--parallel``/``-j``
given on the command line wins.
"""
import os
import platform
import sys
import sysconfig
from pathlib import Path

import Cython
import numpy
from Cython import Tempita
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

EXT_DIR = Path("src/admf_perf/_ext")
INCLUDE_DIR = EXT_DIR / "include"
TOOLCHAIN = (f"{sysconfig.get_config_var('SOABI') or sys.implementation.cache_tag}"
             f"-cython{Cython.__version__}-numpy{numpy.__version__}")

#: template -> {generated file: the template's variables}
TEMPLATES = {
    "_indicators_classes.pxi.in": {
        "_indicators_decl.pxi": {"part": "decl"},   # for _indicators.pxd (cimport)
        "_indicators_impl.pxi": {"part": "impl"},   # for _indicators.pyx
        "_ind_simd_table.pxi": {"part": "simd"},    # for _ind_simd.pyx (the AVX2 runs)
        "_ind_bank_simd_table.pxi": {"part": "bank_simd"},   # for _ind_bank_simd.pyx
    },
}


def jobs() -> int:
    """ADMF_PERF_BUILD_JOBS, else the CPUs this process may run on (its
    affinity); at least 1."""
    given = os.environ.get("ADMF_PERF_BUILD_JOBS", "").strip()
    if given:
        try:
            return max(1, int(given))
        except ValueError:
            sys.exit(f"ADMF_PERF_BUILD_JOBS must be a whole number of jobs, got {given!r}")
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:          # not Linux
        return max(1, os.cpu_count() or 1)


JOBS = jobs()


class ParallelBuildExt(build_ext):
    """build_ext compiling JOBS extensions at a time, unless told otherwise."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if self.parallel is None:
            self.parallel = JOBS
        # the longest compilations first, so that none starts last alone
        self.extensions.sort(key=lambda ext: -sum(Path(s).stat().st_size for s in ext.sources
                                                  if Path(s).exists()))


def expand_templates() -> None:
    for template, outputs in TEMPLATES.items():
        source = (EXT_DIR / template).read_text(encoding="utf-8")
        for target, variables in outputs.items():
            text = Tempita.sub(source, **variables)
            path = EXT_DIR / target
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")


def msvc() -> bool:
    cc = sysconfig.get_config_var("CC")
    return bool(cc) and Path(str(cc).split()[0]).stem == "cl"


def clang() -> bool:
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or ""
    return "clang" in str(cc)


def x86_64() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


#: The AVX2 builds of the indicators: the runs, and IndicatorBank's updates.
SIMD_MODULES = ("_ind_simd", "_ind_bank_simd")


def compile_args(name: str) -> list[str]:
    if msvc():
        return ["/O2", "/fp:precise"]
    args = ["-O3", "-ffp-contract=off"]
    if name in ("_indicators", *SIMD_MODULES):
        args += ["-funroll-loops", "-fno-math-errno", "-fno-trapping-math"]
    if name in ("_indicators", "_ind_bank_simd") and not clang():
        # GCC stops inlining once the unit has grown 40% (its default), and
        # these units are large: which kernel steps stayed out of line then
        # depended on unrelated changes (one grew T3's bank update by 30%;
        # without it the AVX2 bank updates called ADX's step).
        # Room for every `inline` the kernels ask for, so that none is left out.
        # Not _ind_simd: there the flag moved ADOSC's batch by +4% and CCI's
        # by +3.8% (its runs only; the steps are this module's).
        args += ["--param=inline-unit-growth=200"]
    if name in SIMD_MODULES:
        args += ["-mavx2", "-mfma"]     # explicit fma() calls only: contraction stays off
    return args


def built(pyx: Path) -> bool:
    """The AVX2 builds only where gcc or clang target x86-64."""
    return pyx.stem not in SIMD_MODULES or (x86_64() and not msvc())


expand_templates()

extensions = [
    Extension(
        f"admf_perf._ext.{pyx.stem}",
        [str(pyx)],
        include_dirs=[numpy.get_include(), str(INCLUDE_DIR)],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args(pyx.stem),
    )
    for pyx in sorted(EXT_DIR.glob("*.pyx"))
    if built(pyx)
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={"language_level": "3"},
        include_path=[str(EXT_DIR.parent.parent)],
        build_dir=str(Path("build") / f"cython-{TOOLCHAIN}"),
        annotate=False,
        nthreads=JOBS if JOBS > 1 else 0,
    ),
    cmdclass={"build_ext": ParallelBuildExt},
)
