"""A model the process loads once, on first use, and answers without when it cannot load."""

import logging
import os
import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

log = logging.getLogger(__name__)


class Model(Protocol):
    def after_fork(self) -> None:
        """Called in a forked child: make the model usable there."""


M = TypeVar("M", bound=Model)


class Lazy(Generic[M]):
    """`get()` loads the model on its first call and returns it; when loading fails it
    returns None, and the failure is said once in the log with what is done instead."""

    def __init__(self, make: Callable[[], M], name: str, instead: str) -> None:
        """make: loads the model; name: what it is; instead: what is done without it."""
        self.make, self.name, self.instead = make, name, instead
        self.model: M | None = None
        self.failed: str | None = None
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forked)

    def get(self) -> M | None:
        """The model, loaded on first use; None when it cannot load."""
        with self._lock:
            if self.model is None and self.failed is None:
                try:
                    self.model = self.make()
                except Exception as exc:  # an unsupported platform, a damaged file, no disk
                    self.failed = f"{exc.__class__.__name__}: {exc}"
                    log.warning("%s unavailable (%s); %s", self.name, self.failed, self.instead)
            return self.model

    def _forked(self) -> None:
        """In a forked child a lock one of the parent's other threads held is free again."""
        self._lock = threading.Lock()
        if self.model is not None:
            self.model.after_fork()
