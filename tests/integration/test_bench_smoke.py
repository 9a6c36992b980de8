"""Benchmarks cannot rot (issue #28): every ``bench/*.py`` runs in smoke mode (``BENCH_SMOKE=1``: tiny sizes, one
round) and must end with its figures printed and its results written (bench/common.py ``finish``), which
``bench/render.py`` turns into its section of the page.

The benchmarks are found by glob, so a new one is covered without editing this file; :data:`HELPERS` are the
modules of ``bench/`` that are not benchmarks. Nothing here asserts a speed: only that each benchmark works.
Each benchmark starts what it needs itself (run.py its own sandbox, esa.py the ESA simulator) on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
#: bench/ modules that are not benchmarks: the shared helpers, the page renderer and the floor that run.py times.
HELPERS = {"common.py", "render.py", "runner_floor.py"}
BENCHMARKS = sorted(p.name for p in (ROOT / "bench").glob("*.py") if p.name not in HELPERS)


def smoke_env(results: Path) -> dict[str, str]:
    env = dict(os.environ, BENCH_SMOKE="1", BENCH_RESULTS_DIR=str(results))
    for name in ("BENCH_ROUNDS", "BENCH_PARTS"):  # the whole of each benchmark, in its smoke sizes
        env.pop(name, None)
    return env


def test_benchmarks_found() -> None:
    assert {"run.py", "records.py", "esa.py", "nas.py"} <= set(BENCHMARKS)


@pytest.mark.parametrize("script", BENCHMARKS)
def test_benchmark_runs_in_smoke_mode(script: str, tmp_path: Path) -> None:
    results = tmp_path / "results"
    name = script.removesuffix(".py")
    r = subprocess.run([sys.executable, f"bench/{script}"], cwd=ROOT, env=smoke_env(results), capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, f"bench/{script} failed in smoke mode ({r.returncode}):\n{r.stdout[-3000:]}\n" \
                              f"{r.stderr[-3000:]}"
    # its figures: printed (a Markdown table with at least one number in a row) and written for the page
    section = results / f"{name}.md"
    figures = results / f"{name}.json"
    assert section.is_file() and figures.is_file(), \
        f"bench/{script} left no {name}.md/{name}.json: it must end with bench/common.py finish()\n{r.stdout[-2000:]}"
    text = section.read_text(encoding="utf-8")
    assert text.strip() and text in r.stdout, f"bench/{script} did not print its section:\n{r.stdout[-2000:]}"
    assert re.search(r"^\|[^\n]*\d[^\n]*\|$", text, re.M), f"no figure in the table of bench/{script}:\n{text}"
    meta = json.loads(figures.read_text(encoding="utf-8"))["meta"]
    assert meta["smoke"] is True and meta["cores"] == os.cpu_count() and meta["command"] == f"python bench/{script}"

    page = tmp_path / "benchmarks.md"
    subprocess.run([sys.executable, "bench/render.py", "--results", str(results), "--out", str(page)], cwd=ROOT,
                   check=True, capture_output=True, timeout=60)
    out = page.read_text(encoding="utf-8")
    assert f"## {meta['title']}" in out and text.strip() in out and "SMOKE RUN" in out


def test_smoke_results_never_reach_the_docs(tmp_path: Path) -> None:
    """render.py refuses a smoke result when it would write docs/benchmarks.md, and leaves the page as it was."""
    results = tmp_path / "results"
    results.mkdir()
    (results / "x.json").write_text(json.dumps({"meta": {"smoke": True, "title": "X", "command": "python bench/x.py",
                                                         "date": "2026-12-07T00:00:00Z", "cores": 2,
                                                         "load_avg_1m": 0.1, "python": "3.11"}, "results": {}}))
    (results / "x.md").write_text("| a | 1 |\n")
    docs = ROOT / "docs" / "benchmarks.md"
    before = docs.read_bytes() if docs.exists() else None
    r = subprocess.run([sys.executable, "bench/render.py", "--results", str(results)], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "smoke run" in r.stderr
    assert (docs.read_bytes() if docs.exists() else None) == before
