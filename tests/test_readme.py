"""The README's examples run as written, on both implementations."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example(ap, index, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "admf_perf", ap)
    exec(compile(BLOCKS[index], f"README.md[{index}]", "exec"), {"__name__": "readme"})


def test_readme_quickstart_commands():
    text = README.read_text()
    quick = text.split("## Quickstart", 1)[1].split("##", 1)[0]
    commands = re.findall(r"^pip install .*$", quick, re.M)
    assert len(commands) == 2
    assert any("admf-perf optimize" in c for c in commands)
    assert any("pytest" in c for c in commands)
