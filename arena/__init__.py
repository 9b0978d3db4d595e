"""The arena: runs solvers on games, evaluates, saves, compares, and the command line.

* :mod:`arena.config` — a run's configuration as plain data (TOML round trip);
* :mod:`arena.run` — the run loop: one loop drives a step engine over one seed or N stacked seeds;
* :mod:`arena.engine` — step engines: one seed, or N seeds stacked into one computation;
* :mod:`arena.stacked` — N copies of a game as one vmapped game;
* :mod:`arena.vectorized` — several seeds of one game and solver as one batched run;
* :mod:`arena.recorder` — what one seed's run writes to its run directory;
* :mod:`arena.rundir` — the one rule for an existing run directory: keep, continue or refuse;
* :mod:`arena.checkpoint` — atomic, checksummed checkpoints;
* :mod:`arena.cases` — case files (TOML), validated with clear errors;
* :mod:`arena.compare` — every solver × seed of a case, tables with confidence intervals, claims;
* :mod:`arena.solver_table` — converged / cycled / diverged tables of solver comparisons;
* :mod:`arena.plots` — metric curves and sample grids;
* :mod:`arena.diagnose` — ``diffgames diagnose``: the game Jacobian at a point, in words and a figure;
* :mod:`arena.limit` — ``diffgames limit``: the unrolled gradient against K beside the plain and Stackelberg ones;
* :mod:`arena.show` — ``diffgames show``: a game's, solver's or case's options, capabilities, claims;
* :mod:`arena.sampling` — ``diffgames sample`` and ``export``: a run's trained generator put to use;
* :mod:`arena.parsing` — command-line values shared by the commands (seed lists, ``k=v``);
* :mod:`arena.text` — numbers as the command line prints them;
* :mod:`arena.commands` — the bodies of the CLI's commands;
* :mod:`arena.cli` — the ``diffgames`` entry point: argument parsing, errors as one line.

The arena is the top layer: it may import :mod:`diffgames`, :mod:`players`, :mod:`games`,
:mod:`solvers` and :mod:`analysis`, and nothing imports it. Within it, no module imports
:mod:`arena.cli`; the CLI imports the commands, lazily, once the arguments parse.
"""
