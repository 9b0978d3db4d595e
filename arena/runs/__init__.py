"""One run, or N seeds of one stacked into a single batched computation.

The run loop (:mod:`arena.runs.loop`: ``train``, ``resume``, ``run_loop``) drives a step
engine (:mod:`arena.runs.engine`: one seed, or N seeds through the vmapped game of
:mod:`arena.runs.stacked`, started by :mod:`arena.runs.vectorized`) and writes each seed's
run directory through :mod:`arena.runs.recorder`, with atomic checkpoints
(:mod:`arena.runs.checkpoint`), the keep / continue / refuse rule for an existing run
directory (:mod:`arena.runs.directory`) and the run's configuration as plain data
(:mod:`arena.runs.config`). This is the lowest room of the arena: its modules import the
packages below the arena and the root helpers :mod:`arena.parsing` and :mod:`arena.text`,
never :mod:`arena.comparisons`, :mod:`arena.reports` or :mod:`arena.cli`.
"""
