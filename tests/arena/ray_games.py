"""A game whose runs fail on purpose, for the Ray executor's fault tests. Ray workers are
fresh processes, so the tests name it by file (``/path/ray_games.py:FaultyRPS``) rather
than registering it in the test process."""
from __future__ import annotations

import os
from pathlib import Path

from games.matrix import RPS_PAYOFF, ZeroSumMatrixGame


class FaultyRPS(ZeroSumMatrixGame):
    """Rock-paper-scissors whose ``at``-th evaluation in a process kills that process
    (``fault="die"``, once: it first writes ``marker``, and does nothing while ``marker``
    exists) or raises (``fault="raise"``, every time). Each evaluation appends
    ``<pid> <evaluation>`` to ``log`` when one is given."""

    def __init__(self, fault: str = "none", marker: str = "", at: int = 3, log: str = ""):
        super().__init__(RPS_PAYOFF, (1.0, 0.0, -0.5), (0.0, 0.5, 0.0))
        self.fault, self.marker, self.at, self.log = fault, marker, int(at), log
        self._evaluations = 0

    def evaluate(self, params, generator=None):
        self._evaluations += 1
        if self.log:
            with open(self.log, "a") as fh:
                fh.write(f"{os.getpid()} {self._evaluations}\n")
        if self._evaluations == self.at:
            if self.fault == "die" and not Path(self.marker).exists():
                Path(self.marker).write_text("died once")
                os._exit(1)
            if self.fault == "raise":
                raise RuntimeError("this run fails on purpose")
        return super().evaluate(params, generator)
