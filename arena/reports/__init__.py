"""What is made from finished runs: figures, tables, samples and diagnostics.

:mod:`arena.reports.plots` draws metric curves, comparisons, sweeps and sample grids;
:mod:`arena.reports.solver_table` judges solver comparisons as converged / cycled /
diverged (also ``python -m arena.reports.solver_table``); :mod:`arena.reports.sampling`
puts a run's trained generator to use (``diffgames sample`` and ``export``);
:mod:`arena.reports.diagnose` describes the game Jacobian at a point and
:mod:`arena.reports.limit` the unrolled gradient against K. Modules here may import
:mod:`arena.comparisons`, :mod:`arena.runs` and the root helpers :mod:`arena.parsing` and
:mod:`arena.text`, never :mod:`arena.cli`.
"""
