"""make bench: what a plan binds (issue #24, ``ops_driver/inputs.py``) - the cost that every plan and apply adds.

For every automated task of the catalog, in its first environment (prod for a scheduled task, else sandbox):
:func:`ops_driver.inputs.bind` (follow the playbook and its roles, hash every input file, one ``git status``), best
and median of ``BENCH_ROUNDS`` rounds (default 7), with the number of files and bytes hashed; and the same without
the ``git status`` call, to show its share. Target: a few tens of milliseconds, nothing next to a plan's
``ansible-playbook`` run (seconds).

Prints a table and writes ``bench/results/inputs.json``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ops_driver import inputs  # noqa: E402
from ops_driver.catalog import load_catalog  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))


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
    real_git = inputs._git
    for task in catalog.select(automated=True):
        assert task.automation is not None
        env = "prod" if task.automation.schedule else "sandbox"
        bound = inputs.bind(task, env)
        size = sum((ROOT / k).stat().st_size for k in bound.files if not k.startswith("$"))
        with_git = _time(lambda t=task, e=env: inputs.bind(t, e))
        inputs._git = lambda root, paths: ("unknown", None, [])  # type: ignore[assignment]
        try:
            no_git = _time(lambda t=task, e=env: inputs.bind(t, e))
        finally:
            inputs._git = real_git  # type: ignore[assignment]
        rows.append({"task": task.id, "environment": env, "files": len(bound.files), "bytes": size,
                     "best_ms": min(with_git) * 1000, "median_ms": statistics.median(with_git) * 1000,
                     "median_without_git_ms": statistics.median(no_git) * 1000})
    print(f"{'task':<9} {'env':<8} {'files':>5} {'KiB':>6} {'best ms':>8} {'median ms':>10} {'no git ms':>10}")
    for r in rows:
        print(f"{r['task']:<9} {r['environment']:<8} {r['files']:>5} {r['bytes'] / 1024:>6.0f} {r['best_ms']:>8.1f} "
              f"{r['median_ms']:>10.1f} {r['median_without_git_ms']:>10.1f}")
    medians = [r["median_ms"] for r in rows]
    summary = {"tasks": len(rows), "rounds": ROUNDS, "median_of_medians_ms": statistics.median(medians),
               "max_median_ms": max(medians), "max_files": max(r["files"] for r in rows)}
    print(f"{len(rows)} tasks: median {summary['median_of_medians_ms']:.1f} ms, slowest median "
          f"{summary['max_median_ms']:.1f} ms, at most {summary['max_files']} files")
    out = ROOT / "bench" / "results" / "inputs.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"summary": summary, "tasks": rows}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
