"""The `feedqa` command: a thin layer over the library."""

import contextlib
import errno
import io
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from retrieval import FeedqaError, Retriever
from retrieval.answering import MAX_QUESTION_CHARS
from retrieval.text import is_blank

from .cluster import cluster
from .console import Progress, say, stderr_is_terminal
from .render import answer_text, passages_text
from .repl import from_terminal
from .settings import Settings


def _settings(command: str | None) -> Settings:
    """The settings; a bad bot setting stops only the bot, and is noted for the rest."""

    def note(problems: str) -> None:
        say(f"note: {problems} (a bot setting: ignored here)")  # a stderr that fails: unsaid

    try:
        return Settings.load(bot_only=None if command == "telegram" else note)
    except ValueError as exc:  # one line naming each bad variable, or a .env that cannot be read
        raise click.ClickException(f"invalid configuration: {exc}") from exc


def _retriever(ctx: click.Context) -> Retriever:
    """The user's library if there is one (or --index), else the bundled corpus."""
    obj = ctx.ensure_object(dict)
    if "retriever" not in obj:
        settings: Settings = obj["settings"]
        index: Path | None = obj.get("index")
        try:
            if obj.get("bundled"):
                retriever = Retriever.default(min_confidence=settings.feedqa_min_confidence)
            elif settings.feedqa_engine_url and not index:
                retriever = _connect(settings)
            elif index and not _is_library(index):  # a typo: reading makes no library
                hint = f" (did you mean {index / 'index'}?)" if _is_library(index / "index") else ""
                raise click.ClickException(
                    f"no library at {index}{hint} (`feedqa --index {index} ingest FEED…` makes one)"
                )
            elif index or _is_library(settings.index_dir):
                retriever = Retriever.open(
                    index or settings.index_dir,
                    min_confidence=settings.feedqa_min_confidence,
                    lock_timeout=settings.feedqa_lock_timeout_seconds,
                    progress=Progress(),
                    catch_up=False,  # a question never waits for an ingest to finish
                )
                _report_repairs(retriever)
            else:
                retriever = Retriever.default(min_confidence=settings.feedqa_min_confidence)
        except FeedqaError as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:
            raise click.ClickException(f"cannot open the index: {exc}") from exc
        obj["retriever"] = retriever
    return obj["retriever"]


def _is_library(path: Path) -> bool:
    """Whether `path` holds a library: its index, or its log (not a segment's own list)."""
    log = (path / "articles.jsonl").exists() and not (path / "segment.json").exists()
    return log or (path / "index.json").exists()


def _report_repairs(retriever: Retriever, start: int = 0) -> None:
    for note in retriever.repairs[start:]:
        say(f"! library: {note}")


def _connect(settings: Settings) -> Retriever:
    """The cluster at FEEDQA_ENGINE_URL (writable when its folder is here)."""
    assert settings.feedqa_engine_url
    folder = settings.cluster_dir
    return Retriever.connect(
        settings.feedqa_engine_url,
        cluster=folder if (folder / "cluster.json").exists() else None,
        min_confidence=settings.feedqa_min_confidence,
    )


def _folder(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """The option's folder; a blank one is refused (as a Path, "" would be "." instead)."""
    if value is not None and not value.strip():
        raise click.BadParameter("an empty path (leave the option out for the default)")
    return None if value is None else Path(value)


@click.group(invoke_without_command=True)
@click.option(
    "--index",
    type=click.Path(file_okay=False),
    callback=_folder,
    help="Library folder, made by ingest (default: the user's library, else the bundled corpus).",
)
@click.option("--bundled", is_flag=True, help="Use the bundled corpus only.")
@click.version_option(package_name="feedqa")
@click.pass_context
def cli(ctx: click.Context, index: Path | None, bundled: bool) -> None:
    """Ask a news archive questions in Chinese; get extractive answers with citations.

    Without a command, starts the REPL.
    """
    if bundled and index:
        raise click.UsageError("--bundled and --index exclude each other")
    if bundled and ctx.invoked_subcommand == "ingest":
        raise click.UsageError("--bundled is read-only: ingest adds to your library")
    ctx.ensure_object(dict).update(
        settings=_settings(ctx.invoked_subcommand), index=index, bundled=bundled
    )
    if ctx.invoked_subcommand is None:
        ctx.invoke(repl)


@cli.command()
@click.option(
    "-k", default=3, show_default=True, type=click.IntRange(1, 20), help="Citations per answer."
)
@click.pass_context
def repl(ctx: click.Context, k: int) -> None:
    """Interactive questions and answers (line mode when piped)."""
    from . import repl as repl_module

    settings: Settings = ctx.obj["settings"]
    try:
        repl_module.run(
            _retriever(ctx),
            k=k,
            turns=settings.feedqa_history_turns,
            history_file=settings.feedqa_data_dir / "repl-history",
        )
    except repl_module.InputError as exc:  # not "cannot write the output"
        raise click.ClickException(f"cannot read the input: {exc.strerror}") from None


@cli.command()
@click.argument("question")
@click.option(
    "-k", default=3, show_default=True, type=click.IntRange(1, 20), help="Citations per answer."
)
@click.option(
    "--history", "-H", multiple=True, help="An earlier question of the chat (repeat, oldest first)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the Answer as JSON.")
@click.pass_context
def ask(ctx: click.Context, question: str, k: int, history: tuple[str, ...], as_json: bool) -> None:
    """Answer QUESTION from the archive."""
    question, history = from_terminal(question), tuple(map(from_terminal, history))
    if is_blank(question):
        raise click.UsageError("the question is empty")
    answer = _retriever(ctx).ask(question, history=list(history), k=k)
    click.echo(answer.model_dump_json(indent=2) if as_json else answer_text(answer))


@cli.command()
@click.argument("query")
@click.option(
    "-k", default=5, show_default=True, type=click.IntRange(1, 100), help="Number of paragraphs."
)
@click.option("--json", "as_json", is_flag=True, help="Print the passages as JSON.")
@click.pass_context
def search(ctx: click.Context, query: str, k: int, as_json: bool) -> None:
    """Rank paragraphs for QUERY by BM25."""
    query = from_terminal(query)
    if is_blank(query):
        raise click.UsageError("the query is empty")
    retriever = _retriever(ctx)
    hits = retriever.search(query, k=k)
    if len(query) > MAX_QUESTION_CHARS:
        click.echo(f"(查询过长,只读取了前 {MAX_QUESTION_CHARS} 个字符)", err=True)
    note = getattr(retriever, "partial_note", lambda: None)()
    if note:
        click.echo(note, err=True)
    if as_json:
        click.echo(
            json.dumps([h.model_dump(mode="json") for h in hits], ensure_ascii=False, indent=2)
        )
    else:
        click.echo(passages_text(hits))


@cli.command()
@click.argument("sources", nargs=-1)
@click.pass_context
def ingest(ctx: click.Context, sources: tuple[str, ...]) -> None:
    """Add feeds (files or http(s) URLs) to the user's library, incrementally.

    With no feed, only finishes an ingest that was interrupted."""
    settings: Settings = ctx.obj["settings"]
    remote = settings.feedqa_engine_url and not ctx.obj.get("index")
    path = settings.feedqa_engine_url if remote else ctx.obj.get("index") or settings.index_dir
    opened: list[Retriever] = []

    def library() -> Retriever:  # opened once a feed is read: a failed ingest makes none
        if not opened:
            if remote:
                opened.append(_connect(settings))
            else:
                lock = settings.feedqa_lock_timeout_seconds
                opened.append(Retriever.open(path, lock_timeout=lock, progress=Progress()))
            _report_repairs(opened[0])
        return opened[0]

    try:
        failed = _ingest_all(library, sources, settings.feed_limits()) if sources else 0
        retriever = library() if opened or not sources else None
    except FeedqaError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:  # articles are logged before they are indexed: none is lost
        if stderr_is_terminal():
            say("")  # below the progress line the ^C interrupted
        say(
            "interrupted: every article logged is kept; `feedqa ingest` indexes any not indexed yet"
        )
        ctx.exit(130)
    if retriever is not None:
        info = retriever.info()
        click.echo(f"library {path}: {info['articles']} articles, {info['paragraphs']} paragraphs")
        note = getattr(retriever, "partial_note", lambda: None)()
        if note:
            say(note)
    if failed:
        raise click.ClickException(f"{failed} of {len(sources)} sources could not be read")


def _ingest_all(library: Callable[[], Retriever], sources: tuple[str, ...], limits: dict) -> int:
    """Read each source and add it to the `library()`, reporting as it goes; the number of
    sources that could not be read."""
    from corpus import load_feed_report

    failed = 0
    for source in sources:
        say(f"reading {source} …")
        started = time.perf_counter()
        try:
            report = load_feed_report(source, **limits)
        except FeedqaError as exc:
            failed += 1
            say(f"  ✗ {exc}")
            continue
        for problem in report.problems:
            say(f"  ! {problem}")
        retriever = library()
        reported = len(retriever.repairs)
        added = retriever.add(report.articles, progress=Progress())  # FeedqaError: stops all
        _report_repairs(retriever, reported)  # another process's work this add took up
        with contextlib.suppress(OSError):  # an output that fails is said at the end; read on
            click.echo(
                f"{source}: {len(report.articles)} articles: {added.added} new, "
                f"{added.updated} updated, {added.unchanged} unchanged "
                f"({time.perf_counter() - started:.1f}s)"
            )
    return failed


@cli.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--details", is_flag=True, help="Also list every item that missed.")
@click.pass_context
def eval_(ctx: click.Context, file: Path, details: bool) -> None:
    """Score the product on a QA file (JSON lines) and print the table."""
    from retrieval import evaluate

    try:
        items = evaluate.read_items(file)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if not items:
        raise click.ClickException(f"{file} holds no QA items")
    results = evaluate.run(_retriever(ctx), items, progress=Progress())
    if details:
        for item, r in zip(items, results, strict=True):
            ok = r.ans1 if r.answerable else not r.answered
            if not ok:
                click.echo(
                    f"✗ {r.id} [{r.style}] {item['question']}\n  → {r.answer.text or '(abstained)'}"
                )
    click.echo(evaluate.table(results))


@cli.command()
@click.option("--webhook", is_flag=True, help="Receive updates by webhook instead of polling.")
@click.pass_context
def telegram(ctx: click.Context, webhook: bool) -> None:
    """Run the Telegram bot (configured in .env)."""
    from .lifecycle import run_bot
    from .redact import REDACTOR, protect_secrets, token_secrets

    settings: Settings = ctx.obj["settings"]
    token, secret = (settings.telegram_bot_token, settings.telegram_webhook_secret)
    protect_secrets(
        *token_secrets(token.get_secret_value().strip() if token else ""),
        secret.get_secret_value().strip() if secret else "",
    )
    try:
        settings: Settings = ctx.obj["settings"]
        retriever = _retriever(ctx) if settings.feedqa_engine_url else None
        stopped_by = run_bot(settings, webhook=webhook, retriever=retriever)
    except FeedqaError as exc:
        raise click.ClickException(REDACTOR.scrub(str(exc))) from None
    except Exception as exc:  # one redacted line, never a traceback with the token in it
        reason = REDACTOR.scrub(str(exc)) or "no details"
        raise click.ClickException(f"the bot stopped: {type(exc).__name__}: {reason}") from None
    if stopped_by == signal.SIGINT:  # Ctrl-C: 130, as for every command (SIGTERM: 0)
        raise click.exceptions.Abort


cli.add_command(cluster)


def main() -> None:
    """Run the command: one line for any error, never a traceback; 130 after Ctrl-C."""
    if sys.stdin is None:  # closed: an empty input
        sys.stdin = open(os.devnull)  # noqa: SIM115 (for the life of the process)
    if sys.stdout is None:  # closed: ingest still reads every feed, then says so
        sys.stdout = io.TextIOWrapper(_ClosedOutput(), encoding="utf-8", write_through=True)
    # what the output cannot show (an emoji on a GBK terminal, a lone surrogate from a QA file
    # or a file name's undecodable bytes) is printed as "?", not a traceback; JSON stays JSON
    with contextlib.suppress(AttributeError, ValueError):  # no TextIOWrapper, or closed
        sys.stdout.reconfigure(errors="replace")
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:  # Ctrl-C
        code = 130
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except FeedqaError as exc:  # e.g. the search engine went away during a session
        code = _error(str(exc))
    except OutputClosedError:
        code = _error("the output is closed")
    except OSError as exc:  # a file or folder it cannot use, or an output it cannot write
        reason = exc.strerror or str(exc)
        code = _error(
            f"{reason}: {exc.filename}" if exc.filename else f"cannot write the output: {reason}"
        )
    sys.exit(code if isinstance(code, int) else 0)


class OutputClosedError(OSError):
    """A write to a standard output that was closed when the command started."""


class _ClosedOutput(io.RawIOBase):
    """Standard output that was closed (`>&-`): every write fails, as on a full disk."""

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        raise OutputClosedError(errno.EBADF, "the output is closed")


def _error(message: str) -> int:
    """Say `message` on stderr, if it can still be written; the exit code of an error."""
    with contextlib.suppress(OSError, AttributeError):
        click.echo(f"Error: {message}", err=True)
    return 1
