"""What callers hand the Retriever, checked and made well-formed: one clear error for
anything else, never a traceback from deep inside."""

import operator
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from corpus.checks import number
from corpus.errors import ArgumentError, QueryError
from corpus.html import well_formed

from .answering import MAX_QUESTION_CHARS

if TYPE_CHECKING:
    from corpus import Article


def text(value: object, name: str) -> str:
    """A question or query: any string, lone surrogates replaced; QueryError otherwise."""
    if not isinstance(value, str):
        raise QueryError(f"{name} must be a string, not {type(value).__name__}")
    return well_formed(value)


def history(value: object) -> list[str]:
    """Earlier questions, each read up to MAX_QUESTION_CHARS; blank and non-string items are
    passed over. One string is a QueryError (it would be read character by character)."""
    if isinstance(value, str | bytes):
        raise QueryError("history must be a list of earlier questions, not one string")
    if value is not None and not isinstance(value, Iterable):
        raise QueryError(f"history must be a list of earlier questions, not {type(value).__name__}")
    return [
        well_formed(h[:MAX_QUESTION_CHARS])
        for h in (value or [])
        if isinstance(h, str) and h.strip()
    ]


def count(value: object, name: str = "k") -> int:
    """A count, at least 0 (numpy's integers too); QueryError if it is not a whole number."""
    try:
        if isinstance(value, bool):
            raise TypeError
        return max(0, operator.index(value))
    except TypeError:
        raise QueryError(f"{name} must be a whole number, not {type(value).__name__}") from None


def articles(given: Iterable["Article"]) -> Iterator["Article"]:
    """The articles given, each checked: a clear TypeError for anything else."""
    from corpus import Article

    if isinstance(given, Article):
        raise ArgumentError("articles must be a list of Article objects, not one Article")
    if isinstance(given, str | bytes) or not isinstance(given, Iterable):
        raise ArgumentError(
            f"articles must be a list of Article objects, not {type(given).__name__}"
        )
    for a in given:
        if not isinstance(a, Article):
            raise ArgumentError(f"articles must be Article objects, not {type(a).__name__}")
        yield a


def probability(value: object, name: str) -> float | None:
    """`value`, if it is None or a number from 0 to 1; ArgumentError otherwise."""
    if value is not None and not (number(value) and 0 <= value <= 1):
        raise ArgumentError(f"{name} must be from 0 to 1 (or None), not {value!r}")
    return value


def callback(value: object, name: str = "progress") -> object:
    """`value`, if it is None or can be called; ArgumentError otherwise."""
    if value is not None and not callable(value):
        raise ArgumentError(f"{name} must be a function or None, not {value!r}")
    return value


def switch(value: object, name: str) -> bool:
    """`value`, if it is True or False; ArgumentError otherwise ("no" would read as True)."""
    if not isinstance(value, bool):
        raise ArgumentError(f"{name} must be True or False, not {value!r}")
    return value


class Checked:
    """An attribute that `check(value, name)` checks whenever it is set."""

    def __init__(self, check: Callable[[object, str], object]) -> None:
        self.check = check

    def __set_name__(self, owner: type, name: str) -> None:
        self.name, self.stored = name, f"_{name}"

    def __get__(self, obj: object, owner: type | None = None):
        return self if obj is None else getattr(obj, self.stored)

    def __set__(self, obj: object, value: object) -> None:
        setattr(obj, self.stored, self.check(value, self.name))
