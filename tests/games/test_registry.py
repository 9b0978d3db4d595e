"""The game registry and the Game contract: errors a user can cause, derived interaction
graphs, zero-sum games declared by one value function."""
from __future__ import annotations

from typing import Literal

import pytest
import torch
from torch import nn

import games
import solvers
from games.base import Game, ZeroSumGame, checked_losses
from diffgames.errors import ConfigError, DiffgamesError, GameContractError
from diffgames.registry import Registry, check_options, parse_option_value, suggest
from players import MixedStrategy


class Vec(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.v = nn.Parameter(torch.zeros(n))

    def reset_parameters(self, generator):
        self.v.copy_(torch.randn(self.v.shape, generator=generator, dtype=self.v.dtype))

    def forward(self):
        return self.v


class OneWay(Game):
    """Three players: a's loss depends on a and b, b's on b only, c's on a and c."""

    def __init__(self):
        self.players = {"a": Vec(2), "b": Vec(3), "c": Vec(1)}

    def losses(self, params, batch):
        a, b, c = (self.call(p, params) for p in ("a", "b", "c"))
        return {
            "a": (a ** 2).sum() + a.sum() * b.sum(),
            "b": ((b - 1) ** 2).sum(),
            "c": (c * a.sum()).sum() + c.pow(2).sum(),
        }


class BadLosses(Game):
    def __init__(self, result):
        self.result = result
        self.players = {"a": Vec(2), "b": Vec(2)}

    def losses(self, params, batch):
        return self.result(self.call("a", params), self.call("b", params))


class Bilinear(ZeroSumGame):
    def __init__(self):
        self.players = {"x": Vec(2), "y": Vec(2)}

    def value(self, params, batch):
        return self.call("x", params) @ self.call("y", params)


# --------------------------------------------------------------------------- unknown names
@pytest.mark.parametrize("typo, suggestion", [("rsp", "rps"), ("matching_pennies", "matching-pennies"), ("matirx", "matrix")])
def test_unknown_game_lists_available_and_suggests(typo, suggestion):
    with pytest.raises(ConfigError) as info:
        games.make(typo)
    message = str(info.value)
    assert f"unknown game {typo!r}" in message
    assert f"Did you mean {suggestion!r}?" in message
    for name in games.available():
        assert name in message


def test_unknown_name_without_close_match_has_no_suggestion():
    with pytest.raises(ConfigError) as info:
        games.make("zzzzzzzz")
    assert "Did you mean" not in str(info.value)
    assert "Available games: " + ", ".join(games.available()) in str(info.value)


def test_unknown_solver_lists_available_and_suggests():
    with pytest.raises(ConfigError) as info:
        solvers.make("unroled")
    message = str(info.value)
    assert "unknown solver 'unroled'" in message and "Did you mean 'unrolled'?" in message
    assert all(name in message for name in solvers.available())


def test_errors_are_value_errors_with_one_message():
    """The CLI prints the message alone; users catching ValueError still catch it."""
    with pytest.raises(ValueError) as info:
        games.make("rps", row_init_logit=[0, 0, 0])
    assert isinstance(info.value, DiffgamesError)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    "options, words",
    [
        ({"row_init_logit": [0, 0, 0]}, ["unknown option 'row_init_logit'", "Did you mean 'row_init_logits'?", "col_init_logits"]),
        ({"row_init_logits": "uniform"}, ["'row_init_logits'", "list", "'uniform'", "str"]),
        ({"row_init_logits": [0.0, 0.0]}, ["init_logits", "2", "3"]),
    ],
)
def test_bad_game_options_raise_one_clear_error(options, words):
    with pytest.raises(ConfigError) as info:
        games.make("rps", **options)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_make_records_name_and_options():
    game = games.make("rps", row_init_logits=[0.0, 0.0, 1.0])
    assert game.registered_name == "rps" and game.options == {"row_init_logits": [0.0, 0.0, 1.0]}
    assert "rps" in repr(game)
    assert set(games.describe()) == set(games.available())
    assert all(isinstance(d, str) and d for d in games.describe().values())


def test_private_registry_register_and_duplicates():
    registry: Registry = Registry("widget")

    @registry.register("thing")
    def thing(size: int = 3, scale: float = 1.0, mode: str = "a") -> dict:
        """A thing of some size."""
        return {"size": size, "scale": scale, "mode": mode}

    assert registry.available() == ["thing"]
    assert registry.describe() == {"thing": "A thing of some size."}
    assert registry.make("thing", size=4, scale=2) == {"size": 4, "scale": 2, "mode": "a"}
    registry.register("thing")(thing)  # registering the same factory again is harmless
    with pytest.raises(ConfigError, match="already registered"):
        registry.register("thing")(lambda: None)
    with pytest.raises(ConfigError, match="option 'size' must be int, got True"):
        registry.make("thing", size=True)
    with pytest.raises(ConfigError, match="option 'scale' must be float"):
        registry.make("thing", scale="big")
    with pytest.raises(ConfigError, match="unknown widget 'thin'. Did you mean 'thing'"):
        registry.make("thin")


def test_check_options_literal_and_kwargs():
    def f(kind: Literal["x", "y"] = "x", **rest):
        return kind

    check_options(f, {"kind": "y", "anything": 1}, "f")  # **kwargs accepts unknown names
    with pytest.raises(ConfigError, match="'x' \\| 'y'"):
        check_options(f, {"kind": "z"}, "f")


def test_suggest_and_parse_option_value():
    assert suggest("adma", ["adam", "sgd"]) == " Did you mean 'adam'?"
    assert suggest("qqqq", ["adam", "sgd"]) == ""
    assert parse_option_value("5") == 5 and parse_option_value("0.1") == 0.1
    assert parse_option_value("true") is True and parse_option_value("[1, 2]") == [1, 2]
    assert parse_option_value("adam") == "adam"


# --------------------------------------------------------------------------- the contract
@pytest.mark.parametrize(
    "result, words",
    [
        (lambda a, b: [a.sum(), b.sum()], ["must return a dict", "list"]),
        (lambda a, b: {"a": a.sum()}, ["one loss per player", "missing ['b']"]),
        (lambda a, b: {"a": a.sum(), "b": b.sum(), "c": a.sum()}, ["unexpected ['c']"]),
        (lambda a, b: {"a": a, "b": b.sum()}, ["player 'a'", "scalar", "(2,)", ".mean()"]),
        (lambda a, b: {"a": a.sum(), "b": 1.0}, ["player 'b'", "scalar tensor", "float"]),
    ],
    ids=["list", "missing", "extra", "vector", "float"],
)
def test_losses_not_one_scalar_per_player_is_a_contract_error(result, words):
    game = BadLosses(result)
    params = game.init_params(0)
    with pytest.raises(GameContractError) as info:
        checked_losses(game, params, None)
    for word in words:
        assert word in str(info.value), (word, str(info.value))
    # a solver step reports the same error
    solver = solvers.make("simultaneous")
    with pytest.raises(GameContractError):
        solver.step(game, params, solver.init(game, params), None)


def test_losses_of_without_an_asked_player_is_a_contract_error():
    class ForgetsB(BadLosses):
        def losses_of(self, params, batch, players):
            return {"a": params["a"]["v"].sum()}

    game = ForgetsB(lambda a, b: {"a": a.sum(), "b": b.sum()})
    params = game.init_params(0)
    with pytest.raises(GameContractError, match=r"losses_of\(\) was asked for \['b'\] but returned no loss for \['b'\]"):
        checked_losses(game, params, None, ("b",))
    # only the asked players' losses come back, checked as scalars
    assert set(checked_losses(game, params, None, ("a",))) == {"a"}
    solver = solvers.make("alternating")
    with pytest.raises(GameContractError, match="losses_of"):
        solver.step(game, params, solver.init(game, params), None)


def test_derived_interaction_graph_has_only_real_dependencies():
    graph = OneWay().interaction_graph()
    assert set(graph.nodes) == {"a", "b", "c"}
    assert set(graph.edges) == {("a", "a"), ("b", "a"), ("b", "b"), ("a", "c"), ("c", "c")}
    assert not graph.has_edge("a", "b")  # b's loss ignores a


def test_zero_sum_game_from_value():
    game = Bilinear()
    params = game.init_params(5, dtype=torch.float64)
    losses = game.losses(params, None)
    assert torch.equal(losses["y"], -losses["x"])
    assert losses["x"].item() == pytest.approx(float(params["x"]["v"] @ params["y"]["v"]))
    assert set(game.interaction_graph().edges) == {("x", "x"), ("y", "x"), ("x", "y"), ("y", "y")}


def test_defaults_of_the_contract():
    game = OneWay()
    assert game.sample(torch.Generator(), "cpu") is None
    assert game.evaluate(game.init_params(0), torch.Generator()) == {}
    assert game.equilibrium() is None
    assert game.default_optimizers() == {p: {"name": "sgd", "lr": 0.1} for p in ("a", "b", "c")}
    with pytest.raises(NotImplementedError):
        game.draw(game.init_params(0), None, torch.Generator())


def test_init_params_fixed_by_seed():
    game = OneWay()
    a, b, c = game.init_params(1), game.init_params(1), game.init_params(2, dtype=torch.float64)
    assert all(torch.equal(a[p]["v"], b[p]["v"]) for p in a)
    assert not torch.equal(a["a"]["v"], c["a"]["v"].float())
    assert c["b"]["v"].dtype == torch.float64
    # the parameters are copies: changing them does not change the game's modules
    a["a"]["v"].add_(100.0)
    assert not torch.equal(game.players["a"].v.detach(), a["a"]["v"])


def test_games_in_registry_are_games():
    for name in games.available():
        factory = games.factory(name)
        assert callable(factory)
    game = games.make("rps")
    assert isinstance(game, Game)
    assert all(isinstance(m, MixedStrategy) for m in game.players.values())


def test_lazy_registration_imports_the_factory_only_when_needed(tmp_path, monkeypatch):
    module = tmp_path / "lazy_game_module.py"
    module.write_text("from games.classic import letcher as make\nIMPORTED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: Registry = Registry("game")
    registry.register_lazy("lazy", "lazy_game_module:make", "a lazily imported game")
    registry.register_lazy("missing", "lazy_game_module:nothing_here", "a target that does not exist")
    assert registry.available() == ["lazy", "missing"]
    assert registry.describe()["lazy"] == "a lazily imported game"
    import sys

    assert "lazy_game_module" not in sys.modules  # listing imports nothing
    game = registry.make("lazy", x_init=0.5)
    assert sys.modules["lazy_game_module"].IMPORTED and game.players["x"].init == [0.5]
    with pytest.raises(ConfigError, match="Did you mean 'x_init'"):  # options are validated as before
        registry.make("lazy", x_int=0.5)
    with pytest.raises(ConfigError, match="lazy_game_module has no 'nothing_here'"):  # one clear line
        registry.factory("missing")
    with pytest.raises(ConfigError, match="already registered"):
        registry.register("lazy")(lambda: None)
    with pytest.raises(ValueError, match="package.module:Factory"):
        registry.register_lazy("bad", "no_colon_here", "")
    monkeypatch.delitem(sys.modules, "lazy_game_module")


def test_games_names_importable_from_the_package():
    from games import MatrixGame, ZeroSumMatrixGame  # defined in games.matrix, imported on use

    assert issubclass(ZeroSumMatrixGame, MatrixGame) and issubclass(MatrixGame, Game)
    with pytest.raises(AttributeError, match="no attribute 'NoSuchGame'"):
        games.NoSuchGame  # noqa: B018
