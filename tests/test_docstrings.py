"""Docstrings use mkdocstrings' syntax: no Sphinx role or reST maths (issue #14, item 8).

mkdocs prints a Sphinx role as raw text (``:func:`x``` renders as ``:func:x``) and a
``.. math::`` block as a literal; `.ci/run` also greps the built HTML for them.
"""

from __future__ import annotations

import re
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "sertoolkit"
RAW = re.compile(r":(func|class|mod|meth|attr|data|obj|exc|math):`|\.\. math::")


def test_no_sphinx_roles_in_the_library() -> None:
    found = [
        f"{path.relative_to(SOURCE.parent)}:{n}: {line.strip()}"
        for path in sorted(SOURCE.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if RAW.search(line)
    ]
    assert not found, "\n".join(found)


def test_display_maths_blocks_are_closed() -> None:
    for path in sorted(SOURCE.rglob("*.py")):
        fences = [line for line in path.read_text().splitlines() if line.strip() == "$$"]
        assert len(fences) % 2 == 0, path
