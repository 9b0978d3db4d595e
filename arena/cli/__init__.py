"""The ``diffgames`` command line, the top room of the arena.

:mod:`arena.cli.main` parses the arguments and prints a user's errors as one line (its
``main`` is the ``diffgames`` entry point, also ``python -m arena.cli.main``);
:mod:`arena.cli.commands` holds the bodies of the commands as ``cmd_<name>(args)``, and
:mod:`arena.cli.show` the ``diffgames show`` command. Modules here may import every other
room (:mod:`arena.reports`, :mod:`arena.comparisons`, :mod:`arena.runs`) and the root
helpers; nothing outside this package imports it.
"""
