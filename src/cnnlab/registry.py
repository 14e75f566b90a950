"""Name -> object registries for what users pick by name (tasks, backbones, datasets)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from cnnlab.errors import CnnlabError

T = TypeVar("T")


class Registry(Generic[T]):
    """A registry that refuses duplicates and names the valid choices when a lookup fails."""

    def __init__(self, setting: str) -> None:
        self.setting = setting  # the config key users set, e.g. "backbone"
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.setting} '{name}' is registered twice")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of `add`."""
        return lambda entry: self.add(name, entry)

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise CnnlabError(f"unknown {self.setting} '{name}'; valid choices: {', '.join(self.names())}")
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def check_settings(builder: Callable, settings: dict, setting: str, provided: tuple[str, ...] = ()) -> dict:
    """`settings` less its "name", as keyword arguments of `builder`; a one-line error for an unknown key.

    setting: the config group the keys come from, e.g. "data"; provided: arguments the caller fills itself.
    """
    accepted = keyword_parameters(builder) - set(provided)
    kwargs = {k: v for k, v in settings.items() if k != "name"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise CnnlabError(
            f"{setting}.{unknown[0]} is not a setting of {setting}={settings.get('name', '?')}; "
            f"its settings: {', '.join(sorted(accepted | {'name'}))}"
        )
    return kwargs


def keyword_parameters(builder: Callable) -> set[str]:
    """Keyword arguments `builder` accepts, following **kwargs up a class's bases (DataModule subclasses)."""
    functions = (
        [vars(c)["__init__"] for c in builder.__mro__ if "__init__" in vars(c)]
        if isinstance(builder, type)
        else [builder]
    )
    names: set[str] = set()
    for function in functions:
        parameters = inspect.signature(function).parameters.values()
        names |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self"}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return names
