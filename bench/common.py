"""What every benchmark shares (not a benchmark itself): smoke mode and the results it leaves for the page.

Protocol of a benchmark ``bench/<name>.py`` (``tests/integration/test_bench_smoke.py`` checks it for every one):

- with ``BENCH_SMOKE=1`` (:data:`SMOKE`) it runs with tiny sizes and one round, to prove that it still works;
  its figures then mean nothing and never reach ``docs/benchmarks.md``;
- it ends with :func:`finish`, which prints its Markdown section (the table of figures) and writes
  ``<results>/<name>.json`` (the figures, with the date, the machine's cores and the command) and
  ``<results>/<name>.md`` (the section). ``bench/render.py`` assembles the sections into ``docs/benchmarks.md``.

``<results>`` is ``$BENCH_RESULTS_DIR``, else ``bench/results/`` (``bench/results/smoke/`` in smoke mode, so that a
smoke run never replaces a real measurement).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: ``BENCH_SMOKE=1``: tiny sizes, one round, figures not for the docs.
SMOKE = os.environ.get("BENCH_SMOKE") == "1"


def rounds(default: int, env: str = "BENCH_ROUNDS") -> int:
    """The number of rounds: 1 in smoke mode, else ``$env`` or ``default``."""
    return 1 if SMOKE else int(os.environ.get(env, str(default)))


def size(default: int, smoke: int, env: str) -> int:
    """A data size: ``smoke`` in smoke mode, else ``$env`` or ``default``."""
    return smoke if SMOKE else int(os.environ.get(env, str(default)))


def results_dir() -> Path:
    """Where results go (see the module docstring); created."""
    given = os.environ.get("BENCH_RESULTS_DIR")
    path = Path(given) if given else ROOT / "bench" / "results" / ("smoke" if SMOKE else "")
    path.mkdir(parents=True, exist_ok=True)
    return path


def machine() -> dict[str, Any]:
    """The date (UTC, ISO 8601), the machine's cores, its load average and the Python version of this run."""
    return {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "cores": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2), "python": platform.python_version(),
            "smoke": SMOKE}


def finish(name: str, title: str, results: dict[str, Any], section: str) -> None:
    """Print ``section`` (Markdown: the table of figures) and write ``<name>.json`` and ``<name>.md``.

    ``name`` is the benchmark's file stem, ``title`` the section's heading, ``results`` its figures (JSON).
    The JSON holds ``{"meta": {date, cores, load_avg_1m, python, smoke, command, title}, "results": results}``.
    """
    meta = dict(machine(), command=f"python bench/{name}.py", title=title)
    out = results_dir()
    (out / f"{name}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2, sort_keys=True,
                                                 default=str) + "\n", encoding="utf-8")
    text = section.rstrip("\n") + "\n"
    (out / f"{name}.md").write_text(text, encoding="utf-8")
    print(f"## {title}{' (SMOKE: figures meaningless)' if SMOKE else ''}\n\n{text}", end="")
    print(f"written: {out / name}.json, {out / name}.md", file=sys.stderr)


def row(*cells: object) -> str:
    """One Markdown table row."""
    return "| " + " | ".join(str(c) for c in cells) + " |"
