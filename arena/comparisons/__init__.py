"""Many runs: case files, sweeps over settings, and comparisons of solvers across seeds.

Case files are read and validated by :mod:`arena.comparisons.cases`, their grids of
settings expanded by :mod:`arena.comparisons.sweep`; :mod:`arena.comparisons.compare` runs
every solver × seed (local processes, stacked seeds, or Ray tasks through
:mod:`arena.comparisons.ray_executor`), aggregates the results into tables with confidence
intervals and checks the case's claims. Every run goes through :mod:`arena.runs`. Modules
here may import :mod:`arena.runs` and the root helpers :mod:`arena.parsing` and
:mod:`arena.text`, never :mod:`arena.reports` or :mod:`arena.cli`.
"""
