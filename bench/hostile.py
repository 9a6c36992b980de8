"""make bench: hostile work requests are refused cheaply (issue #22) - target: each refusal well within 1 s, as a
whole ``ops-driver plan`` command (interpreter start included), with exit 2 and no traceback.

The documents of the review that found the gap: a 602-byte nine-level YAML alias bomb (86 s and 3.1 GB before),
a 20,000-deep ``[[[…]]]`` (a RecursionError traceback before), a 50 MB ``reason`` (accepted after 70 s before),
control characters in ``requested_by``, and a template in a parameter. For each: the median wall time of
``BENCH_ROUNDS`` runs (default 5; ``BENCH_SMOKE=1``: one round, the 50 MB file made 1 MB) and the peak RSS.

Prints a table and writes ``bench/results/hostile.json``.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMOKE = os.environ.get("BENCH_SMOKE") == "1"
ROUNDS = 1 if SMOKE else int(os.environ.get("BENCH_ROUNDS", "5"))
BASE = ("task: INFO-005\nenvironment: sandbox\nticket: REQ-BENCH-001\nrequested_by: {who}\nreason: {why}\n"
        "params:\n  instances: [joho-web01]\n")


def documents(folder: Path) -> dict[str, Path]:
    """The hostile documents, written into ``folder``."""
    bomb = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
                     + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)])
    size = 1_000_000 if SMOKE else 50_000_000
    docs = {
        "alias bomb (9 levels)": bomb + "\n",
        "20,000-deep nesting": "params: " + "[" * 20_000 + "]" * 20_000 + "\n",
        "control characters in requested_by": BASE.format(who='"sato\\e]0;pwned\\a"', why="bench"),
        "template in a parameter": BASE.format(who="sato", why="bench").replace(
            "[joho-web01]", "[\"{{ lookup('pipe', 'id') }}\"]"),
    }
    out = {}
    for i, (name, text) in enumerate(docs.items()):
        out[name] = folder / f"doc{i}.yml"
        out[name].write_text(text)
    big = folder / "big.yml"
    with big.open("w") as f:
        f.write(BASE.format(who="sato", why="'"))
        f.write("y" * size + "'\n")
    out[f"{size // 1_000_000} MB reason"] = big
    return out


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OPS_EVIDENCE_DIR": str(Path(tmp) / "evidence")}
        for name, path in documents(Path(tmp)).items():
            times, rc, traceback = [], set(), False
            for _ in range(ROUNDS):
                start = time.perf_counter()
                proc = subprocess.run([sys.executable, "-m", "ops_driver.cli", "plan", str(path)],
                                      capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
                times.append(time.perf_counter() - start)
                rc.add(proc.returncode)
                traceback |= "Traceback" in proc.stderr
            rows.append({"document": name, "bytes": path.stat().st_size, "median_s": statistics.median(times),
                         "exit_codes": sorted(rc), "traceback": traceback})
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{'document':<36} {'bytes':>10} {'median':>9} exit traceback")
    for r in rows:
        print(f"{r['document']:<36} {r['bytes']:>10} {r['median_s'] * 1000:>7.0f}ms {r['exit_codes']} {r['traceback']}")
    print(f"peak RSS of one refusal: {peak_mb:.0f} MB (target: each refusal well within 1 s, exit 2, no traceback)")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    if not SMOKE:
        (results / "hostile.json").write_text(json.dumps({"rows": rows, "peak_rss_mb": peak_mb}, indent=2) + "\n")
    ok = all(r["exit_codes"] == [2] and not r["traceback"] for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
