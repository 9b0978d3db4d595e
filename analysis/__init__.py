"""Analysis of a game at a point: the game Jacobian, its eigenvalues, the Hamiltonian
(:mod:`analysis.jacobian`; used by ``diffgames diagnose``)."""
