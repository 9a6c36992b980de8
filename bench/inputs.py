"""make bench: what a plan binds (issue #24, ``ops_driver/run/inputs.py``) - the cost that every plan and apply adds.

For every automated task of the catalog, in its first environment (prod for a scheduled task, else sandbox):
:func:`ops_driver.run.inputs.bind` (follow the playbook and its roles, hash every input file, one ``git status``), best
and median of ``BENCH_ROUNDS`` rounds (default 7), with the number of files and bytes hashed; and the same without
the ``git status`` call, to show its share. Target: a few tens of milliseconds, nothing next to a plan's
``ansible-playbook`` run (seconds).

Prints its table and writes ``inputs.json`` / ``inputs.md`` (bench/common.py).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "bench"))
from common import finish, rounds, row  # noqa: E402

from ops_driver.catalog import load_catalog  # noqa: E402
from ops_driver.run import inputs  # noqa: E402

ROUNDS = rounds(7)


def _time(fn: Any) -> list[float]:
    out = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> int:
    catalog = load_catalog()
    rows: list[dict[str, Any]] = []
    real_git = inputs._git_start
    for task in catalog.select(automated=True):
        assert task.automation is not None
        env = "prod" if task.automation.schedule else "sandbox"
        bound = inputs.bind(task, env)
        size = sum((ROOT / k).stat().st_size for k in bound.files if not k.startswith("$"))
        with_git = _time(lambda t=task, e=env: inputs.bind(t, e))
        inputs._git_start = lambda root, paths: None  # type: ignore[assignment]  # git not started: unknown
        try:
            no_git = _time(lambda t=task, e=env: inputs.bind(t, e))
        finally:
            inputs._git_start = real_git  # type: ignore[assignment]
        rows.append({"task": task.id, "environment": env, "files": len(bound.files), "bytes": size,
                     "best_ms": min(with_git) * 1000, "median_ms": statistics.median(with_git) * 1000,
                     "median_without_git_ms": statistics.median(no_git) * 1000})
    medians = [r["median_ms"] for r in rows]
    summary = {"tasks": len(rows), "rounds": ROUNDS, "median_of_medians_ms": statistics.median(medians),
               "max_median_ms": max(medians), "max_files": max(r["files"] for r in rows)}
    lines = [f"`inputs.bind` of every automated task (follow the playbook and its roles, hash the files, one "
             f"`git status`), median of {ROUNDS}: {summary['median_of_medians_ms']:.1f} ms over {len(rows)} tasks, "
             f"slowest {summary['max_median_ms']:.1f} ms, at most {summary['max_files']} files.", "",
             row("task", "environment", "files", "KiB", "best ms", "median ms", "without git ms"),
             row("---", "---", "---", "---", "---", "---", "---")]
    lines += [row(r["task"], r["environment"], r["files"], f"{r['bytes'] / 1024:.0f}", f"{r['best_ms']:.1f}",
                  f"{r['median_ms']:.1f}", f"{r['median_without_git_ms']:.1f}") for r in rows]
    finish("inputs", "What a plan binds (input hashes)", {"summary": summary, "tasks": rows}, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
