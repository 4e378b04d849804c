"""The project's promises about itself: CI runs the README's test command; no stray files."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "pytest" in ci and ci in readme


def test_the_bundled_corpus_and_settings_example_ship() -> None:
    assert (ROOT / "corpus" / "leiphone-fintech.txt").stat().st_size > 400_000
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    for name in (
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_API_BASE_URL",
        "TELEGRAM_ADMIN_IDS",
        "FEEDQA_FEEDS",
        "FEEDQA_REFRESH_MINUTES",
    ):
        assert f"\n{name}=" in example


def test_the_calibration_qa_items_match_the_corpus() -> None:
    files = sorted((ROOT / "tests" / "data" / "qa").glob("*/*.jsonl"))
    assert len(files) >= 12
    for f in files:
        run = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "data" / "qa" / "validate.py"), str(f)],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stdout[-2000:]
        assert "problems: 0" in run.stdout


@pytest.mark.parametrize(
    "script",
    sorted(p.name for p in (ROOT / "benchmarks").glob("*.py") if "__main__" in p.read_text()),
)
def test_every_benchmark_script_answers_help_without_doing_anything(script: str) -> None:
    before = {p: p.stat().st_mtime_ns for p in (ROOT / "retrieval" / "data").iterdir()}
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--help"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage:")
    assert {p: p.stat().st_mtime_ns for p in (ROOT / "retrieval" / "data").iterdir()} == before
