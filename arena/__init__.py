"""The arena: runs solvers on games, evaluates, saves, compares, and the command line.

It is four sub-packages over two shared helpers, each importing only what is below it:

* :mod:`arena.runs` — one run, or N stacked seeds of one: the run loop
  (:mod:`arena.runs.loop`), step engines, the recorder, checkpoints, the run-directory
  rule, run configurations, stacked games and vectorized seeds;
* :mod:`arena.comparisons` — many runs: cases, sweeps, comparisons with confidence
  intervals and claims, the Ray executor; imports :mod:`arena.runs`;
* :mod:`arena.reports` — what is made from finished runs: plots, solver tables, samples
  and exports, diagnostics, the unrolling limit; imports :mod:`arena.comparisons` and
  :mod:`arena.runs`;
* :mod:`arena.cli` — the ``diffgames`` command line (:mod:`arena.cli.main`), the bodies of
  its commands and ``diffgames show``; imports all of the above;
* :mod:`arena.parsing` (command-line values: seed lists, ``k=v``) and :mod:`arena.text`
  (numbers as the command line prints them) — helpers at the root that every sub-package
  may use and that import none of them.

Imports run one way: ``cli → reports → comparisons → runs → arena.parsing, arena.text``.
The arena is the top layer of the project: it may import :mod:`diffgames`, :mod:`players`,
:mod:`games`, :mod:`solvers` and :mod:`analysis`, and nothing imports it.
"""
