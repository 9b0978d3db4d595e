"""A small name → factory registry with option validation, used for games and solvers.

A factory is registered either as an object (``register(name, description)(factory)``)
or by its import path (``register_lazy(name, "package.module:Factory", description)``);
a lazy factory's module is imported only when :meth:`Registry.factory` or
:meth:`Registry.make` needs it, so listing names and descriptions imports nothing.

Options are validated against the factory's keyword signature before the factory runs, so
that a typo or a wrong type gives one clear :class:`ConfigError` naming the option, the
accepted ones, and the closest match.
"""
from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

from diffgames.errors import ConfigError

__all__ = ["Registry", "suggest", "check_options", "parse_option_value", "describe_annotation", "absolute_location"]

T = TypeVar("T")


def suggest(name: str, choices: Sequence[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def _type_ok(value: Any, annotation: Any) -> bool:
    if annotation is inspect.Parameter.empty or annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple, Sequence, typing.Sequence) or annotation in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin in (dict, Mapping) or annotation is dict:
        return isinstance(value, Mapping)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True  # annotations we cannot check (callables, tensors) are left to the factory


def describe_annotation(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):  # Optional[...] too: "'a' | 'b' | None"
        return " | ".join(describe_annotation(a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation)).replace("typing.", "")


def check_options(factory: Callable[..., Any], options: Mapping[str, Any], what: str) -> None:
    """Raise :class:`ConfigError` for an unknown option or a value of the wrong type."""
    signature = inspect.signature(factory)
    try:
        hints = typing.get_type_hints(factory.__init__ if inspect.isclass(factory) else factory)
    except Exception:  # unresolvable forward references: skip type checks, keep name checks
        hints = {}
    accepted = [
        n for n, p in signature.parameters.items()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and n != "self"
    ]
    takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
    for key, value in options.items():
        if key not in accepted:
            if takes_kwargs:
                continue
            listing = ", ".join(accepted) if accepted else "none"
            raise ConfigError(
                f"{what}: unknown option {key!r}.{suggest(key, accepted)} Accepted options: {listing}."
            )
        annotation = hints.get(key, signature.parameters[key].annotation)
        if not _type_ok(value, annotation):
            raise ConfigError(
                f"{what}: option {key!r} must be {describe_annotation(annotation)}, got {value!r} "
                f"({type(value).__name__})."
            )


def parse_option_value(text: str) -> Any:
    """Parse a command-line ``k=v`` value the way TOML would (``5``, ``0.1``, ``true``,
    ``[1, 2]``, ``"x"``); anything that is not valid TOML is kept as a plain string."""
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


class Registry(Generic[T]):
    """Maps names to factories (classes or functions) with a one-line description each.

    A factory registered by import path is stored as its ``"module:attribute"`` string
    until it is first needed, then replaced by the imported object.

    Besides registered names, :meth:`factory` accepts a factory named where it lives —
    ``path/to/file.py:ClassName`` or ``package.module:ClassName`` — and the names that
    installed packages declare in the entry-point group ``entry_points`` (standard
    ``importlib.metadata`` entry points, read the first time a name is looked up).
    ``contract``: the class a factory that is a class must subclass.
    """

    def __init__(self, kind: str, *, entry_points: str | None = None, contract: type | None = None):
        self.kind, self.entry_point_group, self.contract = kind, entry_points, contract
        self._factories: dict[str, Callable[..., T] | str] = {}
        self._descriptions: dict[str, str] = {}
        self._entry_points_read = entry_points is None

    def register(self, name: str, description: str | None = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering ``factory`` under ``name``.

        The description defaults to the first line of the factory's docstring.
        """

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories and self._factories[name] is not factory:
                raise ConfigError(f"a {self.kind} named {name!r} is already registered")
            self._factories[name] = factory
            doc = (factory.__doc__ or "").strip().splitlines()
            self._descriptions[name] = description or (doc[0] if doc else "")
            _set_registered_name(factory, name)
            return factory

        return decorate

    def register_lazy(self, name: str, target: str, description: str) -> None:
        """Register the factory at ``target`` (``"package.module:attribute"``) as ``name``.

        Nothing is imported now: the module is imported the first time the factory is
        needed (:meth:`factory`, :meth:`make`); :meth:`available` and :meth:`describe`
        never import it.
        """
        module, sep, attribute = target.partition(":")
        if not (module and sep and attribute):
            raise ValueError(f"{self.kind} {name!r}: target must look like 'package.module:Factory', got {target!r}")
        if name in self._factories and self._factories[name] != target:
            raise ConfigError(f"a {self.kind} named {name!r} is already registered")
        self._factories[name] = target
        self._descriptions[name] = description

    def available(self) -> list[str]:
        self._read_entry_points()
        return sorted(n for n in self._factories if not _is_location(n))

    def describe(self) -> dict[str, str]:
        return {n: self._descriptions[n] for n in self.available()}

    def factory(self, name: str) -> Callable[..., T]:
        if name not in self._factories and _is_location(name):
            self._factories[name] = self._checked(_load_location(name, self.kind), name, located=True)
            doc = (getattr(self._factories[name], "__doc__", None) or "").strip().splitlines()
            self._descriptions[name] = doc[0] if doc else ""
        if name not in self._factories:
            self._read_entry_points()
        if name not in self._factories:
            raise ConfigError(
                f"unknown {self.kind} {name!r}.{suggest(name, self.available())} "
                f"Available {self.kind}s: {', '.join(self.available())}; or name one by where it is defined, "
                f"e.g. path/to/file.py:ClassName or package.module:ClassName."
            )
        factory = self._factories[name]
        if isinstance(factory, str):
            factory = self._factories[name] = self._checked(_import_target(factory, f"{self.kind} {name!r}"), name)
        _set_registered_name(factory, name)
        return factory

    def _checked(self, factory: Any, name: str, located: bool = False) -> Callable[..., T]:
        """``factory`` when it may be called: a name that says where its factory is
        (``located``: a file or a module, e.g. from a case or a run's ``config.toml``) must
        be a class following the contract — never a function such as ``os:system``."""
        if located and self.contract is not None and not inspect.isclass(factory):
            raise ConfigError(f"{self.kind} {name!r} is not a class (a {self.kind} named by its place must be a "
                              f"subclass of {self.contract.__module__}.{self.contract.__name__}); it is not called")
        if inspect.isclass(factory) and self.contract is not None and not issubclass(factory, self.contract):
            raise ConfigError(f"{self.kind} {name!r}: {factory.__name__} is not a subclass of "
                              f"{self.contract.__module__}.{self.contract.__name__}, so it does not follow "
                              f"the {self.kind} contract")
        if not callable(factory):
            raise ConfigError(f"{self.kind} {name!r}: {factory!r} is not a class or function")
        return factory

    def _read_entry_points(self) -> None:
        """Register (lazily) the factories installed packages declare in the entry-point group."""
        if self._entry_points_read:
            return
        self._entry_points_read = True
        from importlib.metadata import entry_points

        for point in entry_points(group=self.entry_point_group):
            if point.name not in self._factories:
                package = getattr(getattr(point, "dist", None), "name", None) or point.value.partition(":")[0]
                self.register_lazy(point.name, point.value, f"(from {package}, entry point {point.value})")

    def make(self, name: str, **options: Any) -> T:
        factory = self.factory(name)
        check_options(factory, options, f"{self.kind} {name!r}")
        return factory(**options)


def _import_target(target: str, what: str) -> Callable[..., Any]:
    """The object at ``"package.module:attribute"`` (the module is imported here)."""
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"{what}: cannot import {module_name!r} ({exc}); is the package installed?") from None
    return _attribute(module, attribute, module_name, what)


def _is_location(name: str) -> bool:
    """``file.py:Name`` or ``package.module:Name`` (a name says where its factory is)."""
    where, sep, attribute = name.rpartition(":")
    return bool(sep and where and attribute.isidentifier())


def absolute_location(name: str, base: str | Path) -> str:
    """``name`` with a relative ``file.py`` part made absolute against ``base`` (a case
    file's folder, or the working directory); other names unchanged."""
    where, sep, attribute = name.rpartition(":")
    if not (sep and where.endswith(".py")) or Path(where).is_absolute():
        return name
    return f"{(Path(base) / where).resolve()}:{attribute}"


def _load_location(name: str, kind: str) -> Any:
    where, _, attribute = name.rpartition(":")
    what = f"{kind} {name!r}"
    if not where.endswith(".py"):
        return _import_target(f"{where}:{attribute}", what)
    path = Path(where).resolve()
    if not path.is_file():
        raise ConfigError(f"{what}: there is no file {path}")
    module_name = f"diffgames_user_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            raise ConfigError(f"{what}: importing {path} failed: {type(exc).__name__}: {exc}") from None
    return _attribute(sys.modules[module_name], attribute, str(path), what)


def _attribute(module: Any, attribute: str, where: str, what: str) -> Any:
    try:
        return getattr(module, attribute)
    except AttributeError:
        defined = sorted(n for n, v in vars(module).items() if inspect.isclass(v) and v.__module__ == module.__name__)
        raise ConfigError(f"{what}: {where} has no {attribute!r}.{suggest(attribute, defined)} "
                          f"Classes defined there: {', '.join(defined) or 'none'}") from None


def _set_registered_name(factory: Any, name: str) -> None:
    try:
        factory.registered_name = name
    except (AttributeError, TypeError):
        pass
