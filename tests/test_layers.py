"""The packages stay layered: imports go one way, there are no import cycles, and every
module imports first in a fresh interpreter.

The layers, lowest first (docs/contributing.md): ``diffgames`` (errors, registry, data,
metrics) ← ``players`` ← ``games`` ← ``solvers`` (the Game contract ``games.base`` only)
← ``analysis`` ← ``arena``. ``cases`` is a data package (the bundled case files, read by
``arena.comparisons.cases`` through ``importlib.resources``): it imports nothing at all.
``benchmarks`` and ``tests`` may import anything and are not checked for layers; they are
checked for cycles and fresh imports like the rest.

Inside ``arena`` the same holds for its four rooms, lowest first: ``arena.runs`` (one run
or N stacked seeds) ← ``arena.comparisons`` (many runs) ← ``arena.reports`` (made from
finished runs) ← ``arena.cli`` (the command line). A room imports only itself and the rooms
below it; the root helpers ``arena.parsing`` and ``arena.text`` sit below all four rooms
and import none of them. Every arena module is in a room or is a root helper.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent

#: What each layered package may import of the project, besides itself. An entry names a
#: package or a module (``games.base`` allows ``games.base`` and what is below it, not
#: ``games`` or ``games.matrix``). ``arena`` is nobody's dependency.
ALLOWED: dict[str, tuple[str, ...]] = {
    "diffgames": (),
    "players": ("diffgames",),
    "games": ("diffgames", "players"),
    "solvers": ("diffgames", "players", "games.base"),
    "analysis": ("diffgames", "players", "games", "solvers"),
    "arena": ("diffgames", "players", "games", "solvers", "analysis"),
    "cases": (),
}
#: The arena's rooms, lowest first: a module of a room may import its own room and the
#: rooms before it in this tuple, never one after it.
ARENA_ROOMS: tuple[str, ...] = ("arena.runs", "arena.comparisons", "arena.reports", "arena.cli")
#: Modules at the arena's root, below every room: any room may import them, and they (and
#: ``arena/__init__.py``) import no room.
ARENA_ROOT: tuple[str, ...] = ("arena", "arena.parsing", "arena.text")
#: Every top-level package of the project; imports of other top-level names are third-party.
PACKAGES = ("diffgames", "players", "games", "solvers", "analysis", "arena", "cases", "benchmarks")
PROJECT = (*PACKAGES, "tests")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


FILES = project_files()
MODULES = sorted(module_name(p) for p in FILES)


def _is_module(name: str, root: Path) -> bool:
    path = root.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


@dataclass(frozen=True)
class Import:
    module: str  #: the project module imported (``from games import base`` → ``games.base``)
    line: int
    top_level: bool  #: runs when the importing module is imported (not inside a function)


def _resolve(path: Path, node: ast.ImportFrom, root: Path) -> str:
    if not node.level:
        return node.module or ""
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package.pop()
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _in_project(name: str) -> bool:
    return name.split(".")[0] in PROJECT


def _imports_of(path: Path, root: Path, node: ast.AST, top_level: bool) -> list[Import]:
    found: list[Import] = []
    if isinstance(node, ast.Import):
        found += [Import(a.name, node.lineno, top_level) for a in node.names]
    elif isinstance(node, ast.ImportFrom):
        module = _resolve(path, node, root)
        for alias in node.names:
            sub = f"{module}.{alias.name}"
            found.append(Import(sub if _is_module(sub, root) else module, node.lineno, top_level))
    elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
          and isinstance(node.args[0].value, str)
          and (getattr(node.func, "attr", None) == "import_module" or getattr(node.func, "id", None) == "import_module")):
        found.append(Import(node.args[0].value, node.lineno, top_level))  # importlib.import_module("x.y")
    return found


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (getattr(test, "id", None) == "TYPE_CHECKING" or getattr(test, "attr", None) == "TYPE_CHECKING")


def imports(path: Path, root: Path = ROOT) -> list[Import]:
    """Every project import of the file at any nesting level, marked whether it runs at import."""
    found: list[Import] = []

    def visit(node: ast.AST, top_level: bool) -> None:
        found.extend(_imports_of(path, root, node, top_level))
        inner = top_level and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and not _is_type_checking(node)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), True)
    return list(dict.fromkeys(i for i in found if _in_project(i.module)))  # one per line and module


def arena_room(module: str) -> int | None:
    """The rank of an arena module's room (0 for ``arena.runs`` … 3 for ``arena.cli``), -1
    for the root helpers, None for a module that is neither."""
    if module in ARENA_ROOT:
        return -1
    for rank, room in enumerate(ARENA_ROOMS):
        if module == room or module.startswith(room + "."):
            return rank
    return None


def _room_name(rank: int | None) -> str:
    return "the arena's root helpers" if rank == -1 else ARENA_ROOMS[rank] if rank is not None else "no room"


def _forbidden(importer: str, imported: str) -> str | None:
    """Why ``importer`` may not import ``imported``, or None when it may."""
    package = importer.split(".")[0]
    if imported.split(".")[0] == package:
        if package != "arena":
            return None
        mine, theirs = arena_room(importer), arena_room(imported)
        if mine is None or theirs is None or theirs <= mine:
            return None  # a module in no room is reported by the room check itself
        allowed = [*ARENA_ROOMS[: mine + 1], "arena.parsing", "arena.text"]
        return f"{_room_name(mine)} may import of the arena: {', '.join(allowed)}"
    if any(imported == entry or imported.startswith(entry + ".") for entry in ALLOWED[package]):
        return None
    return f"{package} may import: {', '.join(ALLOWED[package]) or 'none of the project'}"


def layer_violations(files: list[Path], root: Path = ROOT) -> list[str]:
    """``file:line: module imports X (why)`` for each import the tables above forbid."""
    bad = []
    for path in files:
        importer = module_name(path, root)
        if importer.split(".")[0] not in ALLOWED:
            continue
        for imp in imports(path, root):
            why = _forbidden(importer, imp.module)
            if why is not None:
                bad.append(f"{path.relative_to(root)}:{imp.line}: {importer} imports {imp.module} ({why})")
    return bad


def _files_of(package: str) -> list[Path]:
    return [p for p in FILES if module_name(p).split(".")[0] == package]


def _modules_of(package: str) -> list[str]:
    return [module_name(p) for p in _files_of(package)]


def test_the_walk_finds_every_package_and_module():
    assert set(ALLOWED) <= set(PACKAGES)
    for expected in ("diffgames.registry", "games.base", "games.classic", "solvers.base", "analysis.jacobian",
                     "arena.cli.main", "arena.cli.commands", "arena.runs.loop", "arena.comparisons.compare",
                     "arena.reports.plots", "arena.parsing", "cases", "benchmarks.run"):
        assert expected in MODULES


def test_cases_is_a_data_package_that_imports_nothing():
    """``cases`` holds the bundled case files; its one module is ``__init__.py``, with no import."""
    package = ROOT / "cases"
    assert [p.name for p in _files_of("cases")] == ["__init__.py"]
    tree = ast.parse((package / "__init__.py").read_text(encoding="utf-8"))
    found = [n.lineno for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not found, f"cases/__init__.py imports something at line(s) {found}"
    assert (package / "quickstart.toml").is_file()


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_the_layers_below_it(package):
    bad = layer_violations(_files_of(package))
    assert not bad, "forbidden imports:\n" + "\n".join(bad)


def test_every_arena_module_is_in_a_room_or_a_root_helper():
    """A new arena module goes into one of the four rooms; the root holds only the helpers."""
    homeless = [m for m in _modules_of("arena") if arena_room(m) is None]
    assert not homeless, f"arena modules in no room (put them in one of {ARENA_ROOMS}): {homeless}"
    for room in ARENA_ROOMS:
        assert room in MODULES, f"{room} has no __init__.py"


def test_the_arena_rooms_import_one_way():
    """cli → reports → comparisons → runs → the root helpers, never back up."""
    bad = [line for line in layer_violations(_files_of("arena")) if "may import of the arena" in line]
    assert not bad, "arena imports running back up:\n" + "\n".join(bad)


def test_the_layer_check_finds_a_forbidden_import(tmp_path):
    """The check is not vacuous: a solver importing a concrete game, a player importing a
    game (inside a function), and arena imports running back up (a run importing a report,
    a comparison importing the CLI inside a function, a root helper importing a room) are
    all reported; imports down the rooms are not."""
    fake = tmp_path / "root"
    for name, text in {
        "solvers/bad.py": "from games.matrix import MatrixGame\nfrom games.base import Game\n",
        "players/bad.py": "def f():\n    import games\n",
        "arena/runs/bad.py": ("from arena.reports import plots\nfrom arena.runs.config import RunConfig\n"
                              "from arena.text import number\n"),
        "arena/comparisons/bad.py": "from arena.runs import loop\ndef f():\n    from arena.cli.main import main\n",
        "arena/text.py": "import math\nfrom arena.runs.loop import train\n",
        "arena/cli/main.py": "from arena.cli import commands\nfrom arena.reports.plots import plot_run\n",
        "arena/reports/plots.py": "from arena.comparisons.cases import OPS\nfrom arena.parsing import is_number\n",
    }.items():
        (fake / name).parent.mkdir(parents=True, exist_ok=True)
        (fake / name).write_text(text)
    bad = layer_violations(sorted(fake.rglob("*.py")), fake)
    assert bad == [
        "arena/comparisons/bad.py:3: arena.comparisons.bad imports arena.cli.main (arena.comparisons may import "
        "of the arena: arena.runs, arena.comparisons, arena.parsing, arena.text)",
        "arena/runs/bad.py:1: arena.runs.bad imports arena.reports.plots (arena.runs may import of the arena: "
        "arena.runs, arena.parsing, arena.text)",
        "arena/text.py:2: arena.text imports arena.runs.loop (the arena's root helpers may import of the arena: "
        "arena.parsing, arena.text)",
        "players/bad.py:2: players.bad imports games (players may import: diffgames)",
        "solvers/bad.py:1: solvers.bad imports games.matrix (solvers may import: diffgames, players, games.base)",
    ]


def import_graph(files: list[Path], deferred: bool = False) -> nx.DiGraph:
    """Edge a → b when module a imports project module b at import time (not in a function).

    ``deferred=True`` adds the imports inside functions too, except a module's import of
    its own package (``solvers.lookahead`` calling ``solvers.make`` at run time).
    """
    graph = nx.DiGraph()
    for path in files:
        importer = module_name(path)
        graph.add_node(importer)
        for imp in imports(path):
            own_package = importer.startswith(imp.module + ".")
            if imp.module != importer and (imp.top_level or (deferred and not own_package)):
                graph.add_edge(importer, imp.module)
    return graph


def _named(cycles: list[list[str]]) -> str:
    return "\n".join(" → ".join([*c, c[0]]) for c in sorted(cycles, key=len)[:10])


def test_no_import_cycles():
    cycles = list(nx.simple_cycles(import_graph(FILES)))
    assert not cycles, "import cycles (module-level imports):\n" + _named(cycles)


def test_no_import_cycles_through_imports_inside_functions():
    """A cycle closed by an import inside a function works only as long as nobody imports
    the other module first; modules that need each other share a lower module instead."""
    cycles = list(nx.simple_cycles(import_graph(FILES, deferred=True)))
    assert not cycles, "import cycles (counting imports inside functions):\n" + _named(cycles)


def test_the_cycle_check_finds_a_cycle():
    graph = nx.DiGraph([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])
    assert [sorted(c) for c in nx.simple_cycles(graph)] == [["a", "b", "c"]]


def _run(code: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_first_in_a_fresh_interpreter(package):
    result = _run(f"import {package}")
    assert result.returncode == 0, f"import {package} failed:\n{result.stderr[-3000:]}"


#: Imports every project module first, each after removing every project module from
#: ``sys.modules``; the third-party libraries stay loaded (importing them is the slow part).
_FRESH_IMPORTS = """
import importlib, json, sys, traceback
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot, networkx, numpy, scipy.linalg, scipy.optimize, scipy.sparse.linalg, scipy.stats, torch
PROJECT, MODULES = {project!r}, {modules!r}
failures = {{}}
for name in MODULES:
    for loaded in [m for m in sys.modules if m.split(".")[0] in PROJECT]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except BaseException as exc:
        failures[name] = traceback.format_exception_only(type(exc), exc)[-1].strip()
print(json.dumps(failures))
"""


def test_every_module_imports_first_in_a_fresh_interpreter():
    result = _run(_FRESH_IMPORTS.format(project=PROJECT, modules=MODULES))
    assert result.returncode == 0, result.stderr[-3000:]
    failures = json.loads(result.stdout.strip().splitlines()[-1])
    assert not failures, "modules that fail to import first:\n" + "\n".join(f"{m}: {e}" for m, e in failures.items())


def test_list_imports_no_game_data_or_classifier_and_names_every_game():
    """``diffgames list`` builds no game: the MNIST game, MNIST loading and the digit
    classifier stay unimported, and the listing still names every registered game."""
    heavy = ("games.mnist", "diffgames.data.mnist", "diffgames.metrics.digit_classifier")
    result = _run(
        "import contextlib, io, json, sys\n"
        "from arena.cli.main import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    code = main(['list'])\n"
        "import games, solvers\n"
        f"print(json.dumps({{'code': code, 'out': out.getvalue(), 'games': games.available(), "
        f"'solvers': solvers.available(), 'loaded': [m for m in {heavy!r} if m in sys.modules]}}))\n"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["code"] == 0
    assert report["loaded"] == [], f"`diffgames list` imported {report['loaded']}"
    listed = {line.split()[0] for line in report["out"].splitlines() if line.startswith("  ")}
    assert set(report["games"]) <= listed and set(report["solvers"]) <= listed
    assert {"rps", "mog", "mnist-rnn-cnn", "ipd", "bilinear"} <= set(report["games"])
    assert "(invalid" not in report["out"]
