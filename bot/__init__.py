"""Front ends of feedqa: the command line, the REPL and the Telegram bot. No retrieval logic here."""

import sys


def main() -> None:
    """The `feedqa` command. Its modules load in here, so that Ctrl-C while they load exits
    quietly too (130)."""
    try:
        from .cli import main as run
    except KeyboardInterrupt:
        sys.exit(130)
    run()
