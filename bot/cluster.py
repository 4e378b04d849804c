"""`feedqa cluster`: the archive sharded on a local Sphinx/Manticore cluster."""

import shutil
from pathlib import Path

import click

from corpus import Article
from retrieval import FeedqaError
from retrieval import cluster as engine
from retrieval.sphinxconf import host_configs

from .settings import Settings


def _layout(ctx: click.Context) -> engine.Layout:
    settings: Settings = ctx.obj["settings"]
    try:
        return engine.Layout.load(settings.cluster_dir)
    except FeedqaError as exc:
        raise click.ClickException(str(exc)) from exc


def _articles(ctx: click.Context) -> list[Article]:
    """The user's library (its articles log), else the bundled corpus."""
    from corpus import bundled_feed_path, load_feed
    from retrieval.articlelog import read_log

    settings: Settings = ctx.obj["settings"]
    log = (ctx.obj.get("index") or settings.index_dir) / "articles.jsonl"
    if ctx.obj.get("bundled") or not log.exists():
        return load_feed(bundled_feed_path())
    # as the library reads it: a line a kill tore (inside a character too) is skipped
    return list(read_log(log).articles.values())


@click.group()
def cluster() -> None:
    """Run the archive on local Sphinx shards (`apt-get install sphinxsearch`)."""


@cluster.command()
@click.option("--shards", default=3, show_default=True, type=click.IntRange(1, 64))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=9306, show_default=True, type=click.IntRange(1024, 65000),
    help="SphinxQL port; shard i listens on PORT + 1 + i.",
)  # fmt: skip
@click.option("--start", "start_", is_flag=True, help="Start the searchd processes too.")
@click.pass_context
def init(ctx: click.Context, shards: int, host: str, port: int, start_: bool) -> None:
    """Write the configs and build the shards from the library (or the bundled corpus)."""
    settings: Settings = ctx.obj["settings"]
    layout = engine.Layout(settings.cluster_dir, shards, host, port)
    articles = {a.id: a for a in _articles(ctx)}
    kept = 0
    try:
        old = engine.Layout.found(settings.cluster_dir)
        if old:  # built again: keep what it holds
            engine.stop(old)
            for a in engine.logged_articles(old):  # ingested through the cluster
                kept += articles.get(a.id) != a
                articles[a.id] = a
        engine.build(layout, articles.values())
        for s in range(layout.shards, old.shards if old else 0):  # shards no longer used
            shutil.rmtree(old.shard_dir(s), ignore_errors=True)
        if start_:
            engine.start(layout)
    except FeedqaError as exc:
        raise click.ClickException(str(exc)) from exc
    n = sum(len(a.paragraphs) for a in articles.values())
    also = f", {kept} of them ingested through the cluster" if kept else ""
    click.echo(
        f"built {len(articles)} articles ({n} paragraphs{also}) on {shards} shards in {layout.root}"
    )
    _next_step(layout, started=start_)
    if start_:
        _check_served(ctx, layout)


def _next_step(layout: engine.Layout, *, started: bool) -> None:
    if not started:
        click.echo("start it with: feedqa cluster start")
        return
    click.echo(f"running: FEEDQA_ENGINE_URL={layout.url}")
    click.echo(f'try: FEEDQA_ENGINE_URL={layout.url} feedqa ask "京东科技计划在香港IPO募资多少?"')


@cluster.command()
@click.pass_context
def start(ctx: click.Context) -> None:
    """Start the shards' and the head's searchd (those not running)."""
    layout = _layout(ctx)
    try:
        engine.start(layout)
    except FeedqaError as exc:
        raise click.ClickException(str(exc)) from exc
    _next_step(layout, started=True)
    _check_served(ctx, layout)


def _check_served(ctx: click.Context, layout: engine.Layout) -> None:
    """Say each shard that serves less than it holds, and exit 1 if any does."""
    try:
        problems = engine.unserved(layout)
    except FeedqaError as exc:
        problems = [str(exc)]
    for problem in problems:
        click.echo(f"! {problem}", err=True)
    if problems:
        ctx.exit(1)


@cluster.command()
@click.pass_context
def stop(ctx: click.Context) -> None:
    """Stop every searchd of the cluster."""
    try:
        engine.stop(_layout(ctx))
    except FeedqaError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("stopped")


@cluster.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Which searchd processes run (exit status 1 unless all of them do)."""
    layout = _layout(ctx)
    click.echo(f"{layout.url} ({layout.shards} shards in {layout.root})")
    processes = engine.status(layout)
    for name, running, pid in processes:
        click.echo(f"{name:>8}: {'running, pid ' + str(pid) if running else 'stopped'}")
    if not all(running for _, running, _ in processes):
        ctx.exit(1)
    _check_served(ctx, layout)


@cluster.command()
@click.pass_context
def merge(ctx: click.Context) -> None:
    """Fold the shards' delta indexes (ingested articles) into their main indexes."""
    try:
        engine.merge(_layout(ctx))
    except FeedqaError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("merged")


@cluster.command()
@click.option("--hosts", required=True, help="Comma-separated host names, one searchd each.")
@click.option("--shards", default=3, show_default=True, type=click.IntRange(1, 1024))
@click.option("--replicas", default=1, show_default=True, type=click.IntRange(1, 16))
@click.option(
    "--root", default="/var/lib/feedqa", show_default=True, help="Shard folder on each host."
)
@click.option(
    "--port", default=9306, show_default=True, type=click.IntRange(1, 65535 - 6),
    help="SphinxQL port (agents: PORT + 6).",
)  # fmt: skip
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("cluster-configs"),
    show_default=True,
)  # fmt: skip
def config(hosts: str, shards: int, replicas: int, root: str, port: int, out: Path) -> None:
    """Write a searchd config per host for the same layout across real machines."""
    names = [h.strip() for h in hosts.split(",") if h.strip()]
    if not names:
        raise click.BadParameter("no host named", param_hint="--hosts")
    twice = sorted({h for h in names if names.count(h) > 1})
    if twice:
        raise click.BadParameter(f"{', '.join(twice)} is named twice", param_hint="--hosts")
    try:
        configs = host_configs(names, shards, root, replicas=replicas, port=port)
    except FeedqaError as exc:
        raise click.ClickException(str(exc)) from exc
    out.mkdir(parents=True, exist_ok=True)
    for host, text in configs.items():
        (out / f"{host}.conf").write_text(text, encoding="utf-8")
    click.echo(f"wrote {len(configs)} configs to {out}")
