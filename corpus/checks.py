"""Checks of the arguments callers hand feedqa: one ArgumentError naming the argument,
never a traceback from deep inside (the retriever's own are in `retrieval/arguments.py`)."""

from corpus.errors import ArgumentError


def number(value: object) -> bool:
    """Whether `value` is an int or a float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def seconds(value: object, name: str, *, zero: bool = True) -> float:
    """`value`, if it is a number of seconds (0 too, unless `zero` is False); ArgumentError
    otherwise."""
    if not (number(value) and 0 <= value < float("inf") and (zero or value > 0)):
        least = "0 or more" if zero else "above 0"
        raise ArgumentError(f"{name} must be a number of seconds, {least}, not {value!r}")
    return value


def whole(value: object, name: str, *, least: int = 1) -> int:
    """`value`, if it is a whole number, `least` or more; ArgumentError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ArgumentError(f"{name} must be a whole number, {least} or more, not {value!r}")
    return value
