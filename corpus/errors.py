"""Every error feedqa raises, in one tree, so callers can catch one base class.

FeedqaError
├── FeedError          a feed could not be read or parsed
│   └── FetchError     a feed URL could not be fetched
├── RetrievalError     the retriever could not answer
│   ├── QueryError     the question cannot be used (e.g. not a string)
│   ├── IndexFileError an index on disk is missing, stale or corrupt
│   └── EngineError    the search engine cannot be reached, or a cluster tool failed
├── ArgumentError      an argument of the wrong type or value (also a TypeError, ValueError)
├── QAFileError        a QA file for `feedqa eval` cannot be read (also a ValueError)
├── LibraryError       a library on disk cannot be written (disk full, no permission)
│   └── LibraryBusyError another process is writing to the library
└── ConfigError        a setting is missing or invalid
"""


class FeedqaError(Exception):
    """Base class of all feedqa errors."""


class FeedError(FeedqaError):
    """A feed could not be read or parsed."""


class FetchError(FeedError):
    """A feed URL could not be fetched."""


class RetrievalError(FeedqaError):
    """The retriever could not answer."""


class QueryError(RetrievalError):
    """The question cannot be used."""


class IndexFileError(RetrievalError):
    """An index on disk is missing, stale or corrupt."""


class EngineError(RetrievalError):
    """The search engine cannot be reached, or a cluster tool failed."""


class ArgumentError(FeedqaError, TypeError, ValueError):
    """An argument of the wrong type or value, named in the message."""


class QAFileError(FeedqaError, ValueError):
    """A QA file cannot be read: one line naming the file and the line."""


class LibraryError(FeedqaError):
    """A library on disk cannot be written (disk full, no permission)."""


class LibraryBusyError(LibraryError):
    """Another process is writing to the library."""


class ConfigError(FeedqaError):
    """A setting is missing or invalid."""
