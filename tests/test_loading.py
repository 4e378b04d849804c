import logging
import os
import signal
import threading

import pytest

from retrieval.loading import Lazy


class Fake:
    made = 0

    def __init__(self) -> None:
        Fake.made += 1
        self.forked = False

    def after_fork(self) -> None:
        self.forked = True


def test_a_model_is_loaded_once_by_many_threads() -> None:
    Fake.made = 0
    lazy = Lazy(Fake, "fake model", "doing without")
    got = []
    threads = [threading.Thread(target=lambda: got.append(lazy.get())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Fake.made == 1 and len({id(m) for m in got}) == 1 and got[0] is not None


def test_a_model_that_cannot_load_is_tried_and_said_once(caplog) -> None:
    tries = []

    def broken() -> Fake:
        tries.append(1)
        raise OSError("no engine for this platform")

    lazy = Lazy(broken, "fake model", "doing without")
    with caplog.at_level(logging.WARNING):
        assert lazy.get() is None and lazy.get() is None
    assert len(tries) == 1
    said = [r.getMessage() for r in caplog.records]
    assert said == ["fake model unavailable (OSError: no engine for this platform); doing without"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_while_the_lock_is_held_loads_and_readies_the_model() -> None:
    lazy = Lazy(Fake, "fake model", "doing without")
    lazy.get()
    with lazy._lock:  # another thread of the parent is loading at the fork
        pid = os.fork()
        if pid == 0:
            signal.alarm(10)  # a child that waits for the parent's lock dies instead
            os._exit(0 if lazy.get() is not None and lazy.model.forked else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not lazy.model.forked  # the parent's model is untouched
