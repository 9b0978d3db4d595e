"""The documentation stays true: every ```python block of ``docs/*.md`` runs.

Each file's blocks run in order in one namespace (a later block may use an earlier one's
names), in a fresh temporary working directory. Games and solvers that a page registers
are removed from the registries afterwards.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import games
import solvers

DOCS = Path(__file__).resolve().parent.parent / "docs"
_FENCE = re.compile(r"^```\s*(python|py)\b", re.IGNORECASE)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """The ```python blocks of a markdown text as ``(first line number, code)``."""
    blocks, current, start = [], None, 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if current is None:
            if _FENCE.match(stripped):
                current, start = [], number + 1
        elif stripped.startswith("```"):
            blocks.append((start, "\n".join(current) + "\n"))
            current = None
        else:
            current.append(line)
    if current is not None:
        raise ValueError(f"unclosed ```python block starting at line {start - 1}")
    return blocks


DOC_FILES = sorted(p for p in DOCS.glob("*.md") if python_blocks(p.read_text(encoding="utf-8")))


def test_block_parser():
    text = "intro\n```python\na = 1\n```\n```bash\nls\n```\n``` py\nb = a + 1\n\nc = 2\n```\n"
    assert python_blocks(text) == [(3, "a = 1\n"), (9, "b = a + 1\n\nc = 2\n")]
    with pytest.raises(ValueError, match="unclosed"):
        python_blocks("```python\nx = 1\n")


def test_define_a_game_page_exists_and_has_code():
    page = DOCS / "define-a-game.md"
    assert page in DOC_FILES
    assert len(python_blocks(page.read_text(encoding="utf-8"))) >= 4


@pytest.fixture
def isolated_registries():
    saved = [(r, dict(r._factories), dict(r._descriptions)) for r in (games._REGISTRY, solvers._REGISTRY)]
    yield
    for registry, factories, descriptions in saved:
        registry._factories.clear()
        registry._factories.update(factories)
        registry._descriptions.clear()
        registry._descriptions.update(descriptions)


@pytest.mark.parametrize("page", DOC_FILES, ids=[p.name for p in DOC_FILES])
def test_doc_code_runs(page, tmp_path, monkeypatch, isolated_registries):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for line, code in python_blocks(page.read_text(encoding="utf-8")):
        # pad with newlines so that tracebacks point at the markdown file's own line numbers
        compiled = compile("\n" * (line - 1) + code, str(page), "exec")
        exec(compiled, namespace)
