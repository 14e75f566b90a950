"""Name -> object registries for what users pick by name (tasks, backbones, datasets)."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

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
        named = "name" in settings
        which = f"{setting}={settings['name']}" if named else setting
        names = sorted(accepted | {"name"}) if named else sorted(accepted)
        raise CnnlabError(
            f"{setting}.{unknown[0]} is not a setting of {which}; its settings: {', '.join(names) or 'none'}"
        )
    hints = keyword_hints(builder)
    for key, value in kwargs.items():
        if key in hints:
            check_value(f"{setting}.{key}", value, hints[key])
    return kwargs


def check_value(setting: str, value: Any, hint: Any) -> None:
    """A one-line error when `value` does not fit the annotation `hint` (type and range, e.g. Fraction).

    pydantic's lax mode takes a list for a tuple and 3.0 for 3, as configs write them; a string is never taken
    for a number or a flag (`data.batch_size=abc` is an error, not a coercion).
    """
    from pydantic import ConfigDict, TypeAdapter, ValidationError
    from pydantic.errors import PydanticSchemaGenerationError, PydanticUndefinedAnnotation

    try:
        adapter = TypeAdapter(hint, config=ConfigDict(arbitrary_types_allowed=True))
    except (PydanticSchemaGenerationError, PydanticUndefinedAnnotation, TypeError):
        return  # an annotation pydantic cannot check: the builder's own checks apply
    try:
        checked = adapter.validate_python(value)
    except ValidationError as err:
        problem = err.errors()[0]
        where = "".join(f"[{part}]" if isinstance(part, int) else "" for part in problem["loc"])
        expected = type_name(hint)
        if typing.get_origin(hint) in (typing.Union, types.UnionType):  # pydantic reports the first member only
            raise CnnlabError(f"{setting}={_shown(value)} is not valid: expected {expected}") from None
        reason = problem["msg"].lower().replace("input should", "should").replace("value should", "should")
        quote = f"; for text write {setting}='{value}'" if isinstance(value, (int, float)) and "str" in expected else ""
        raise CnnlabError(
            f"{setting}{where}={_shown(value)} is not valid: {reason} (expected {expected}){quote}"
        ) from None
    if _string_coerced(value, checked):
        raise CnnlabError(f"{setting}={_shown(value)} is not valid: expected {type_name(hint)}, got text")


def _string_coerced(original: Any, checked: Any) -> bool:
    """Whether validation turned text into something else (a number, a flag) anywhere inside `original`."""
    if isinstance(original, str):
        return not isinstance(checked, str)
    if isinstance(original, Sequence) and isinstance(checked, Sequence) and len(original) == len(checked):
        return any(_string_coerced(a, b) for a, b in zip(original, checked, strict=True))
    if isinstance(original, Mapping) and isinstance(checked, Mapping):
        return any(_string_coerced(original[k], checked[k]) for k in original if k in checked)
    return False


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


BOUNDS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}  # annotated_types' names for range limits


def type_name(hint: Any) -> str:
    """A readable name of an annotation: `int`, `float >= 0, < 1`, `a list of int, at least 1 item(s)`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        limits = [f"{sign} {getattr(meta, name)}" for meta in args[1:] for name, sign in BOUNDS.items()
                  if getattr(meta, name, None) is not None]  # fmt: skip
        limits += [f"at least {meta.min_length} item(s)" for meta in args[1:] if hasattr(meta, "min_length")]
        return ", ".join([type_name(args[0]), *limits])
    if origin in (typing.Union, types.UnionType):
        literals = [str(v) for a in args if typing.get_origin(a) is typing.Literal for v in typing.get_args(a)]
        names = [type_name(a) for a in args if a is not type(None) and typing.get_origin(a) is not typing.Literal]
        if literals:
            names.insert(0, "one of " + ", ".join(dict.fromkeys(literals)))
        return " or ".join(names) + (" or null" if type(None) in args else "")
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, args))
    if origin is not None and args and isinstance(origin, type) and issubclass(origin, Mapping):
        return "a mapping"
    if origin is not None and args and isinstance(origin, type) and issubclass(origin, Sequence):
        return f"a list of {type_name(args[0])}"
    if hint is Any:
        return "any value"
    return getattr(hint, "__name__", str(hint))


def keyword_hints(builder: Callable) -> dict[str, Any]:
    """Annotations of the keyword arguments `builder` accepts (following **kwargs up a class's bases), as types;
    a function whose annotations cannot be resolved contributes none."""
    hints: dict[str, Any] = {}
    for function in reversed(_signature_functions(builder)):  # subclasses win
        try:
            hints.update(typing.get_type_hints(function, include_extras=True))
        except Exception:  # names only known to type checkers
            continue
    hints.pop("return", None)
    return hints


def keyword_parameters(builder: Callable) -> set[str]:
    """Keyword arguments `builder` accepts, following **kwargs up a class's bases (DataModule subclasses)."""
    names: set[str] = set()
    for function in _signature_functions(builder):
        parameters = inspect.signature(function).parameters.values()
        names |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self"}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return names


def _signature_functions(builder: Callable) -> list[Callable]:
    """The __init__ of a class and of its bases as far as **kwargs passes arguments on; a function itself."""
    if not isinstance(builder, type):
        return [builder]
    functions = []
    for function in [vars(c)["__init__"] for c in builder.__mro__ if "__init__" in vars(c)]:
        functions.append(function)
        if not any(p.kind is p.VAR_KEYWORD for p in inspect.signature(function).parameters.values()):
            break
    return functions
