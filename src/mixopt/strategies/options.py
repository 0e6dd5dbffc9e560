"""Strategy options: each strategy declares its options with a default and what a valid value is;
one function checks a config's options against that declaration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

__all__ = ["Option", "boolean", "check", "choice", "integer_at_least", "names", "number_in", "positive_int", "positive_number", "resolve",
           "unit_fractions"]


@dataclass(frozen=True)
class Option:
    """Attributes:
        default: the value when the option is not given.
        allowed: what a valid value is, for the error message ("a positive integer").
        valid: whether a given value is allowed (the default always is).
    """

    default: Any
    allowed: str
    valid: Callable[[Any], bool]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def integer_at_least(low: int, default: int | None, optional: bool = False) -> Option:
    """An integer >= ``low`` (``optional``: or ``None``)."""
    return Option(default, f"an integer >= {low}" + (" or null" if optional else ""),
                  lambda v: (optional and v is None) or (_is_int(v) and v >= low))


def positive_int(default: int | None, optional: bool = False) -> Option:
    """A positive integer (``optional``: or ``None``)."""
    option = integer_at_least(1, default, optional)
    return Option(default, "a positive integer" + (" or null" if optional else ""), option.valid)


def positive_number(default: float) -> Option:
    return Option(default, "a positive number",
                  lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0)


def number_in(low: float, high: float, default: float) -> Option:
    """A number in [``low``, ``high``)."""
    return Option(default, f"a number in [{low:g}, {high:g})",
                  lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v < high)


def boolean(default: bool) -> Option:
    """``true`` or ``false`` (not 0 or 1: a YAML typo should not pass as a flag)."""
    return Option(default, "true or false", lambda v: isinstance(v, bool))


def choice(values: Iterable[Any], default: Any) -> Option:
    """One of ``values``."""
    values = tuple(values)
    return Option(default, f"one of {list(values)}", lambda v: v in values)


def unit_fractions(default: list[float]) -> Option:
    """A non-empty list of numbers in (0, 1]."""
    return Option(default, "a non-empty list of numbers in (0, 1]",
                  lambda v: isinstance(v, list) and len(v) > 0
                  and all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x <= 1 for x in v))


def names(default: list[str] | None = None, what: str = "names") -> Option:
    """A list of strings, or ``None``."""
    return Option(default, f"a list of {what} or null",
                  lambda v: v is None or (isinstance(v, list) and all(isinstance(s, str) for s in v)))


def check(strategy: str, declared: Mapping[str, Option], options: Mapping[str, Any]) -> None:
    """ValueError naming the first option of ``options`` that ``declared`` lacks or rejects."""
    unknown = sorted(set(options) - set(declared))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for strategy {strategy!r}; known: {sorted(declared)}")
    for key, value in options.items():
        if not declared[key].valid(value):
            raise ValueError(f"{strategy}: option {key!r} must be {declared[key].allowed}, got {value!r}")


def resolve(declared: Mapping[str, Option], options: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared option's value: the given one, else its default."""
    return {key: option.default for key, option in declared.items()} | dict(options)
