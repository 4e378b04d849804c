"""Keeping secrets (the bot token, the webhook secret) out of logs, errors and tracebacks."""

import logging
from collections.abc import Iterable


class RedactSecrets(logging.Filter):
    """Replace secrets (the bot token, the webhook secret) in log records.

    Installed in the log record factory, so it sees every record of every logger before
    any handler formats it; it can also be added to handlers as a plain filter.
    """

    replacement = "<redacted>"

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: set[str] = {s for s in secrets if s}
        self._formatter = logging.Formatter()

    def scrub(self, text: str) -> str:
        """`text` with every secret replaced, the longest first: a secret that occurs inside
        another (a webhook secret inside the token) would otherwise unmask the rest of it."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, self.replacement)
        return text

    def _contains(self, text: str) -> bool:
        return any(secret in text for secret in self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler to report
            message = str(record.msg)
        if self._contains(message):
            record.msg, record.args = self.scrub(message), None
        if record.exc_info and not record.exc_text:
            text = self._formatter.formatException(record.exc_info)
            if self._contains(text):
                record.exc_text = self.scrub(text)
        elif record.exc_text and self._contains(record.exc_text):
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info and self._contains(record.stack_info):
            record.stack_info = self.scrub(record.stack_info)
        return True


REDACTOR = RedactSecrets()
_factory_installed = False


def token_secrets(token: str) -> tuple[str, ...]:
    """What to keep secret of a bot token: all of it, and its secret part (after the bot's
    id), which a URL may hold with the colon escaped (``123%3AAA…``)."""
    return (token, token.partition(":")[2])


def protect_secrets(*secrets_: str) -> None:
    """Keep these strings out of every log record, and quiet the loggers that print URLs."""
    global _factory_installed
    REDACTOR.secrets.update(s for s in secrets_ if s)
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if not _factory_installed:
        previous = logging.getLogRecordFactory()

        def factory(*args: object, **kwargs: object) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            REDACTOR.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        _factory_installed = True
    for handler in logging.getLogger().handlers:
        if REDACTOR not in handler.filters:
            handler.addFilter(REDACTOR)
