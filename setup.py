"""Build the compiled hot paths under src/admf_perf/_ext with Cython.

Every ``.pyx`` there is one extension module; speed directives live in each
file's header.  Templates (``*.pxi.in``, Cython's Tempita) are expanded first:
one table of classes, written out once per use (see TEMPLATES).

Compiler flags: ``-ffp-contract=off`` everywhere (no fused multiply-adds: the
order of operations is part of the results, which are bit-identical on every
compiler and CPU); the indicators' loops are also unrolled.
"""
from pathlib import Path

import numpy
from Cython import Tempita
from Cython.Build import cythonize
from setuptools import Extension, setup

EXT_DIR = Path("src/admf_perf/_ext")
INCLUDE_DIR = EXT_DIR / "include"

#: template -> {generated file: the template's variables}
TEMPLATES = {
    "_indicators_classes.pxi.in": {
        "_indicators_decl.pxi": {"decl": True},     # for _indicators.pxd (cimport)
        "_indicators_impl.pxi": {"decl": False},    # for _indicators.pyx
    },
}


def expand_templates() -> None:
    for template, outputs in TEMPLATES.items():
        source = (EXT_DIR / template).read_text(encoding="utf-8")
        for target, variables in outputs.items():
            text = Tempita.sub(source, **variables)
            path = EXT_DIR / target
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")


def compile_args(name: str) -> list[str]:
    import sysconfig

    if sysconfig.get_config_var("CC") and "cl" == Path(str(sysconfig.get_config_var("CC")).split()[0]).stem:
        return ["/O2", "/fp:precise"]
    args = ["-O3", "-ffp-contract=off"]
    if name == "_indicators":
        args += ["-funroll-loops", "-fno-math-errno", "-fno-trapping-math"]
    return args


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
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={"language_level": "3"},
        include_path=[str(EXT_DIR.parent.parent)],
        annotate=False,
    ),
)
