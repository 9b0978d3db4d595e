"""Cases: one TOML file per reproduced experiment, validated with clear errors.

Schema (see ``docs/cases.md``)::

    name, description                       strings
    [reference]  paper, figure, claim       strings (what the case reproduces)
    [game]       name, options = {...}      a registered game and its options
    [run]        steps, eval_every, checkpoint_every, snapshot_steps, seeds, device, dtype,
                 work_budget (loss-gradient evaluations), time_budget ("10m", or seconds)
    [[solvers]]  label, name, options = {...}, optimizers = {player = {name, lr, ...}},
                 run = {...} (this solver's [run] values: e.g. more steps, a budget)
    [[claims]]   solver, metric, op, value, step ("final" or an int) or at_work (an int) or
                 at_time ("10m", "1.5h", "90s" or seconds of training), share, description,
                 settings (share of a sweep's settings), than (another solver label)
    [sweep]      "game.<option>" / "solver.<option>" / "optimizer[.<player>].<hyperparameter>"
                 = [values]: the grid of settings (:mod:`arena.comparisons.sweep`)

The bundled cases are the ``*.toml`` files of the package ``cases``, installed with the
project; :func:`bundled_cases` reads them through :mod:`importlib.resources`, so they are
found from any working directory and in a wheel or non-editable install, not only in a
source checkout.
"""
from __future__ import annotations

import atexit
import shutil
import tempfile
import tomllib
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import games
import solvers
from arena.comparisons.at_compute import At, at_time, at_work
from arena.runs.config import DTYPES, RunConfig
from arena.parsing import parse_duration
from arena.comparisons.sweep import Setting, SweepAxis, apply_to_optimizers, grid, parse_sweep, solver_accepts
from diffgames.errors import ConfigError, DiffgamesError
from diffgames.registry import absolute_location, check_options, suggest

__all__ = ["Case", "SolverEntry", "Claim", "load_case", "case_description", "find_case", "bundled_cases", "OPS"]

OPS = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
       "<": lambda a, b: a < b, "==": lambda a, b: a == b}

_TOP = {"name": str, "description": str, "reference": dict, "game": dict, "run": dict,
        "solvers": list, "claims": list, "sweep": dict}
_REFERENCE = {"paper": str, "figure": str, "claim": str, "code": str, "notes": str}
_GAME = {"name": str, "options": dict}
_RUN = {"steps": int, "eval_every": int, "checkpoint_every": int, "snapshot_steps": list,
        "seeds": list, "device": str, "dtype": str, "work_budget": int, "time_budget": (str, int, float)}
#: what one solver may set for itself in its ``run`` table (e.g. a longer run, a budget)
_SOLVER_RUN = {k: v for k, v in _RUN.items() if k != "seeds"}
_SOLVER = {"label": str, "name": str, "options": dict, "optimizers": dict, "run": dict}
_CLAIM = {"solver": str, "metric": str, "op": str, "value": (int, float), "step": (str, int),
          "at_work": (int, float, str), "at_time": (str, int, float),
          "share": (int, float), "settings": (int, float), "than": str, "description": str}


@dataclass
class SolverEntry:
    label: str
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    optimizers: dict[str, Any] | None = None
    run: dict[str, Any] = field(default_factory=dict)  # this solver's [run] values (steps, a budget)


@dataclass
class Claim:
    """``metric op value`` at ``step`` — or at an amount of work (``at_work``, loss-gradient
    evaluations) or of training time (``at_time``, e.g. ``"10m"``), read with the rule of
    :mod:`arena.comparisons.at_compute` — for the runs of solver ``solver``.

    Without a sweep it holds when it holds in ≥ ``share`` of the seeds. With one, a
    setting *succeeds* when it holds in ≥ ``share`` of that setting's seeds, and the claim
    holds when ≥ ``settings`` of the settings succeed — or, with ``than`` (another solver
    label), when its condition holds in a larger share of ``solver``'s runs than of
    ``than``'s (each share the mean over settings of the setting's share of seeds).
    """

    solver: str
    metric: str
    op: str
    value: float
    step: str | int = "final"
    share: float = 1.0
    settings: float = 1.0
    than: str = ""
    description: str = ""
    at_work: int | float | str | None = None
    at_time: str | int | float | None = None

    def holds(self, measured: float) -> bool:
        return bool(OPS[self.op](measured, self.value))

    @property
    def at(self) -> At | None:
        """The amount of compute the claim is read at (``None``: at ``step``)."""
        if self.at_work is not None:
            return at_work(self.at_work, "at_work")
        if self.at_time is not None:
            return at_time(self.at_time, "train", "at_time")
        return None

    @property
    def point(self) -> str:
        """``at step final``, ``at work 180,000``, ``at 10m of training``."""
        at = self.at
        return f"at step {self.step}" if at is None else f"at {at}"

    def __str__(self) -> str:
        if self.description:
            return self.description + ("" if self.at is None else f" [{self.point}]")
        text = f"{self.solver}: {self.metric} {self.op} {self.value} {self.point} in ≥ {self.share:.0%} of seeds"
        if self.than:
            return (f"{self.solver}: {self.metric} {self.op} {self.value} {self.point} in a larger share of "
                    f"runs than {self.than}")
        return text + (f", in ≥ {self.settings:.0%} of settings" if self.settings < 1 else "")


@dataclass
class Case:
    name: str
    path: Path
    description: str
    reference: dict[str, str]
    game: str
    game_options: dict[str, Any]
    run: dict[str, Any]
    solvers: list[SolverEntry]
    claims: list[Claim]
    sweep: list[SweepAxis] = field(default_factory=list)
    default_optimizers: dict[str, Any] = field(default_factory=dict)
    players: list[str] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        return list(self.run.get("seeds", [0]))

    def settings(self) -> list[Setting]:
        """The sweep's grid of settings (``[]`` for a case without ``[sweep]``)."""
        return grid(self.sweep)

    def setting(self, label: str) -> Setting:
        for setting in self.settings():
            if setting.label == label:
                return setting
        labels = [s.label for s in self.settings()]
        raise ConfigError(f"case {self.name!r} has no setting {label!r}.{suggest(label, labels)}"
                          + (f" Its settings: {', '.join(labels[:6])}{', …' if len(labels) > 6 else ''}."
                             if labels else " It has no [sweep]."))

    def solver(self, label: str) -> SolverEntry:
        for s in self.solvers:
            if s.label == label:
                return s
        raise ConfigError(f"case {self.name!r} has no solver labelled {label!r}.{suggest(label, self.labels())} "
                          f"Its solvers: {', '.join(self.labels())}.")

    def labels(self) -> list[str]:
        return [s.label for s in self.solvers]

    def run_config(self, label: str, seed: int, out: str | Path, setting: Setting | None = None,
                   **overrides: Any) -> RunConfig:
        """The configuration of solver ``label`` with ``seed`` (in ``setting`` of the sweep)."""
        entry = self.solver(label)
        settings = {k: v for k, v in self.run.items() if k != "seeds"}
        settings.update(entry.run)
        settings.update({k: v for k, v in overrides.items() if v is not None})
        if "time_budget" in settings:
            settings["time_budget"] = parse_duration(settings["time_budget"], "time_budget")
        game_options, solver_options, optimizers = dict(self.game_options), dict(entry.options), entry.optimizers
        if setting is not None:
            game_options.update(setting.of("game"))
            factory = solvers.factory(entry.name)
            solver_options.update({k: v for k, v in setting.of("solver").items() if solver_accepts(factory, k)})
            if not solvers.make(entry.name, **solver_options).capabilities.own_step_size:
                optimizers = apply_to_optimizers(optimizers, self.default_optimizers, self.players, setting.values)
        return RunConfig(game=self.game, game_options=game_options, solver=entry.name,
                         solver_options=solver_options, optimizers=optimizers, seed=seed,
                         label=label, case=self.reference_name(), out=str(out),
                         setting=None if setting is None else setting.label, **settings)

    def reference_name(self) -> str:
        """How run configs refer back to this case: its name when bundled, else its path."""
        bundled = {p.stem: p for p in bundled_cases()}.get(self.name)
        return self.name if bundled is not None and bundled.resolve() == self.path.resolve() else str(self.path)


def _check_table(table: Any, schema: dict[str, Any], where: str, required: tuple[str, ...] = ()) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table, got {type(table).__name__}")
    for key, value in table.items():
        if key not in schema:
            raise ConfigError(f"{where}: unknown key {key!r}.{suggest(key, list(schema))} Allowed keys: {', '.join(schema)}.")
        expected = schema[key]
        ok = isinstance(value, expected) and not (isinstance(value, bool) and expected in (int, (int, float)))
        if not ok:
            names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
            raise ConfigError(f"{where}.{key} must be {names}, got {value!r}")
    for key in required:
        if key not in table:
            raise ConfigError(f"{where}: missing required key {key!r}")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"case file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (a case file is TOML)") from None
    except IsADirectoryError:
        raise ConfigError(f"case file {path} is a folder; give the .toml file inside it") from None
    except OSError as exc:
        raise ConfigError(f"case file {path} cannot be read ({exc.strerror or exc})") from None


def folder_name(text: str, what: str) -> str:
    """``text`` when it can name one folder inside an output folder (a case's name, a
    solver's label, a sweep setting's label); else one line of :class:`ConfigError`:
    no path separators, not ``.`` or ``..``, not empty, no control characters."""
    if (not text or text in (".", "..") or "/" in text or "\\" in text or text != text.strip()
            or any(ord(c) < 32 for c in text)):
        raise ConfigError(f"{what} {text!r} cannot name a folder inside the output folder "
                          "(no '/', '\\', '.' or '..', no leading or trailing spaces)")
    return text


def case_description(path: str | Path) -> str:
    """A case file's description, after the checks that build nothing.

    The file must be valid TOML with known keys, and name a registered game and registered
    solvers; their options are not checked (that needs the game's module and a built game:
    :func:`load_case` does it). ``diffgames list`` uses this, so listing imports no game.
    """
    path = Path(path)
    data, where = _read_toml(path), str(path)
    _check_table(data, _TOP, where, required=("game", "solvers"))
    _check_table(data["game"], _GAME, f"{where}: [game]", required=("name",))
    name = data["game"]["name"]
    if name not in games.available() and ":" not in name:
        raise ConfigError(f"{where}: [game]: unknown game {name!r}.{suggest(name, games.available())}")
    for i, raw in enumerate(data["solvers"]):
        at = f"{where}: [[solvers]] #{i + 1}"
        _check_table(raw, _SOLVER, at, required=("name",))
        if raw["name"] not in solvers.available() and ":" not in raw["name"]:
            raise ConfigError(f"{at}: unknown solver {raw['name']!r}.{suggest(raw['name'], solvers.available())}")
    return data.get("description", "")


def load_case(path: str | Path) -> Case:
    """Read and validate a case file; every mistake names the file and the key."""
    path = Path(path)
    data, where = _read_toml(path), str(path)
    _check_table(data, _TOP, where, required=("game", "solvers"))
    _check_table(data.get("reference", {}), _REFERENCE, f"{where}: [reference]")
    _check_table(data["game"], _GAME, f"{where}: [game]", required=("name",))
    run = data.get("run", {})
    _check_run(run, where)

    # a game or solver named by its file is found relative to the case file
    game_name = absolute_location(data["game"]["name"], path.parent)
    game_options = data["game"].get("options", {})
    try:
        check_options(games.factory(game_name), game_options, f"game {game_name!r}")
        game = games.make(game_name, **game_options)
    except DiffgamesError as exc:
        raise ConfigError(f"{where}: [game]: {exc}") from None

    entries = _solver_entries(data["solvers"], game, where)
    defaults = game.default_optimizers()
    sweep = parse_sweep(data.get("sweep"), where, game_factory=games.factory(game_name), game_options=game_options,
                        make_game=lambda **o: games.make(game_name, **o), solver_entries=entries,
                        solver_factory=solvers.factory, players=list(game.player_names), default_optimizers=defaults)
    claims = _claims(data.get("claims", []), [e.label for e in entries], game, game_name, where)
    folder_name(data.get("name", path.stem), f"{where}: name")
    for entry in entries:
        folder_name(entry.label, f"{where}: [[solvers]] label")
    for setting in grid(sweep):
        folder_name(setting.label, f"{where}: [sweep] setting")
    return Case(name=data.get("name", path.stem), path=path, description=data.get("description", ""),
                reference=data.get("reference", {}), game=game_name, game_options=game_options, run=run,
                solvers=entries, claims=claims, sweep=sweep, default_optimizers=defaults,
                players=list(game.player_names))


def _check_run(run: dict, where: str) -> None:
    _check_table(run, _RUN, f"{where}: [run]")
    for key in ("steps", "eval_every", "checkpoint_every"):
        if key in run and run[key] < (1 if key == "eval_every" else 0):
            raise ConfigError(f"{where}: [run].{key} is out of range: {run[key]}")
    seeds = run.get("seeds", [0])
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ConfigError(f"{where}: [run].seeds must be a non-empty list of integers ≥ 0, got {seeds!r}")
    if "dtype" in run and run["dtype"] not in DTYPES:
        raise ConfigError(f"{where}: [run].dtype must be one of {sorted(DTYPES)}, got {run['dtype']!r}")
    _check_budgets(run, f"{where}: [run]")


def _check_budgets(run: dict, where: str) -> None:
    if "work_budget" in run and run["work_budget"] < 1:
        raise ConfigError(f"{where}.work_budget must be a positive number of loss-gradient evaluations, "
                          f"got {run['work_budget']}")
    if "time_budget" in run:
        parse_duration(run["time_budget"], f"{where}.time_budget")


def _solver_entries(raws: list, game: games.Game, where: str) -> list[SolverEntry]:
    """The ``[[solvers]]``, each built once against the game to validate its options."""
    entries: list[SolverEntry] = []
    if not raws:
        raise ConfigError(f"{where}: [[solvers]] is empty; list at least one solver")
    for i, raw in enumerate(raws):
        at = f"{where}: [[solvers]] #{i + 1}"
        _check_table(raw, _SOLVER, at, required=("name",))
        _check_table(raw.get("run", {}), _SOLVER_RUN, f"{at}.run")
        _check_budgets(raw.get("run", {}), f"{at}.run")
        entry = SolverEntry(label=raw.get("label", raw["name"]), name=absolute_location(raw["name"], Path(where).parent),
                            options=raw.get("options", {}), optimizers=raw.get("optimizers"), run=raw.get("run", {}))
        try:
            solver = solvers.make(entry.name, optimizers=entry.optimizers, **entry.options)
            solver.optimizers(game)
        except DiffgamesError as exc:
            raise ConfigError(f"{at} ({entry.label}): {exc}") from None
        if entry.label in [e.label for e in entries]:
            raise ConfigError(f"{at}: label {entry.label!r} is used twice; labels must be unique")
        entries.append(entry)
    return entries


def _claims(raws: list, labels: list[str], game: games.Game, game_name: str, where: str) -> list[Claim]:
    """The ``[[claims]]``, each naming a solver label and a metric the game logs."""
    metrics = ["wall_time", "train_time", "work", *game.metric_names(), *(f"loss_{p}" for p in game.player_names)]
    claims = []
    for i, raw in enumerate(raws):
        at = f"{where}: [[claims]] #{i + 1}"
        _check_table(raw, _CLAIM, at, required=("solver", "metric", "op", "value"))
        claim = Claim(**raw)
        if claim.solver not in labels:
            raise ConfigError(f"{at}: unknown solver label {claim.solver!r}.{suggest(claim.solver, labels)}")
        if claim.metric not in metrics:
            raise ConfigError(f"{at}: unknown metric {claim.metric!r} for game {game_name!r}."
                              f"{suggest(claim.metric, metrics)} Metrics: {', '.join(metrics)}.")
        if claim.op not in OPS:
            raise ConfigError(f"{at}: op must be one of {', '.join(OPS)}, got {claim.op!r}")
        if not (0 < claim.share <= 1):
            raise ConfigError(f"{at}: share must be in (0, 1], got {claim.share}")
        if not (0 < claim.settings <= 1):
            raise ConfigError(f"{at}: settings (the share of a sweep's settings) must be in (0, 1], got {claim.settings}")
        if claim.than and claim.than not in labels:
            raise ConfigError(f"{at}: than names an unknown solver label {claim.than!r}.{suggest(claim.than, labels)}")
        if claim.than == claim.solver:
            raise ConfigError(f"{at}: than must name another solver than {claim.solver!r}")
        if isinstance(claim.step, str) and claim.step != "final":
            raise ConfigError(f"{at}: step must be \"final\" or an integer, got {claim.step!r}")
        points = [key for key in ("step", "at_work", "at_time") if key in raw]
        if len(points) > 1:
            raise ConfigError(f"{at}: give one of step, at_work or at_time, not {' and '.join(points)}")
        if claim.at_work is not None:
            at_work(claim.at_work, f"{at}: at_work")
        if claim.at_time is not None:
            at_time(claim.at_time, "train", f"{at}: at_time")
        claims.append(claim)
    return claims


#: Where bundled case files are copied when the package ``cases`` is not on the file system
#: (imported from a zip archive); made on first use, removed when the interpreter exits.
_COPIES: Path | None = None


def _real_path(entry: Traversable) -> Path:
    """``entry`` itself when it is a file on disk, else a copy of it with the same name."""
    global _COPIES
    if isinstance(entry, Path):
        return entry
    if _COPIES is None:
        _COPIES = Path(tempfile.mkdtemp(prefix="diffgames-cases-"))
        atexit.register(shutil.rmtree, _COPIES, True)
    copy = _COPIES / entry.name
    if not copy.exists():
        copy.write_bytes(entry.read_bytes())
    return copy


def bundled_cases() -> list[Path]:
    """The bundled case files (the ``*.toml`` of the package ``cases``), sorted by name.

    Found through ``importlib.resources``, so from any working directory and in any
    install; an installed package's files are returned as they are, those of a package
    imported from a zip archive as temporary copies with the same file names.
    """
    entries = [e for e in files("cases").iterdir() if e.name.endswith(".toml") and e.is_file()]
    return [_real_path(e) for e in sorted(entries, key=lambda e: e.name)]


def find_case(name_or_path: str) -> Path:
    """A case file by path, or by name among the bundled cases."""
    path = Path(name_or_path)
    if path.exists():
        return path
    bundled = {p.stem: p for p in bundled_cases()}
    if name_or_path in bundled:
        return bundled[name_or_path]
    raise ConfigError(f"no case file {name_or_path!r}.{suggest(path.stem, list(bundled))} "
                      f"Bundled cases: {', '.join(bundled) or 'none'}.")
