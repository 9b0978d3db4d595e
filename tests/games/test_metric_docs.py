"""Every bundled game defines each of its metrics in its docstring's ``Metrics`` section."""
from __future__ import annotations

import pytest

import games
from games.base import Game, doc_section

OPTIONS = {"matrix": {"row_payoff": [[1, 0], [0, 1]], "col_payoff": [[0, 1], [1, 0]]}}
#: the bundled games (other tests register stand-in games of their own)
BUNDLED = [name for name, _, _ in games._BUNDLED]


@pytest.mark.parametrize("name", BUNDLED)
def test_every_metric_is_defined(name):
    game = games.make(name, **OPTIONS.get(name, {}))
    assert game.metric_names()
    undefined = [m for m in game.metric_names() if not game.metric_doc(m)]
    assert not undefined, f"{name}: no Metrics entry for {undefined}"


def test_doc_section_entries_families_and_closing_paragraph():
    doc = """Title.

    Metrics
    -------
    a, b
        Two at once, ``x + y``;
        continued on a second line.
    share_<j>
        Of mode ``j`` (:func:`f`).

    A closing paragraph that names nothing.

    Notes
    -----
    c
        Not a metric.
    """
    entries = doc_section(doc, "Metrics")
    assert entries == {"a": "Two at once, `x + y`; continued on a second line.",
                       "b": "Two at once, `x + y`; continued on a second line.", "share_<j>": "Of mode `j` (f)."}

    class G(Game):
        __doc__ = doc

        def losses(self, params, batch):
            return {}

    game = G.__new__(G)
    assert game.metric_doc("share_12") == "Of mode `j` (f)." and game.metric_doc("share") is None
    assert game.metric_doc("c") is None
