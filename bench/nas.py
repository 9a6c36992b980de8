"""make bench (NAS part, issues #4 and #17): our transfer against the same work done with the standard tools.

Data (``BENCH_NAS_MB``, default 2048 MB each): many files (``BENCH_NAS_FILES``, default 20,000, ~100 KB each)
and one file. Tools, each on the same source, into an empty destination:

- ``ours``: the module's copy path (module_utils/nas_transfer.py: select, plan, streamed copy with the SHA-256 of
  the source, every block read back from the destination and compared, manifests compared), in a child process
  so that its peak RSS is its own;
- ``rsync+sha256sum``: what an operator would otherwise do for the same evidence - ``rsync -a``, then
  ``sha256sum`` every file of the source and of the destination (``find -print0 | sort -z | xargs -0``) and
  compare the two lists (``cmp``);
- ``rsync``: plain ``rsync -a`` (no verification);
- ``cp``: ``cp -a``, for reference.

Targets (issue #17): ours >= 1.0x the throughput of rsync+sha256sum on both data sets; on the one file ours >=
0.8x plain rsync; our peak RSS under 100 MB. The zip AES-256 comparison against the 7z command line uses
``BENCH_NAS_ZIP_MB`` (default 512 MB) of the single file. Every tool reads the same source from the page cache
(round 0 is not counted); each figure is the median of ``BENCH_NAS_ROUNDS`` (default 3) rounds, the tools take
turns in first place, and before every timed run the file system is flushed and left ``BENCH_NAS_SETTLE_S``
(default 3) seconds to settle. ``BENCH_SMOKE=1``: 2 MB in 20 files, 1 MB to zip, one round, no settling. Prints one
table and writes ``nas.md`` and ``nas.json`` (bench/common.py).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import SMOKE, finish, rounds, size  # noqa: E402

MB = 1024 * 1024
TOTAL_MB = size(2048, 2, "BENCH_NAS_MB")
FILES = size(20000, 20, "BENCH_NAS_FILES")
ZIP_MB = size(512, 1, "BENCH_NAS_ZIP_MB")
ROUNDS = rounds(3, "BENCH_NAS_ROUNDS")
SETTLE_S = 0.0 if SMOKE else float(os.environ.get("BENCH_NAS_SETTLE_S", "3"))
PASSWORD = "bench-password"

CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
from tests.support.modules import module_util
nas = module_util("nas_transfer")
src_root, dst_root, mode = sys.argv[2], sys.argv[3], sys.argv[4]
t = time.perf_counter()
files = nas.select(src_root, "data", ["*"])
if mode == "copy":
    actions = nas.plan_copy(files, dst_root, "data", "BENCH", overwrite=False)
    src, dst = nas.copy_files(actions)
    assert src == dst
else:
    nas.make_archive(files, os.path.join(dst_root, "out.zip"), "zip", sys.argv[5])
print(json.dumps({"seconds": time.perf_counter() - t,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_random(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        left = size
        while left:
            n = min(left, 8 * MB)
            f.write(os.urandom(n))
            left -= n


def timed(cmd: list[str], **kw: Any) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, **kw)
    return time.perf_counter() - start


def ours(mode: str, src_root: Path, dst_root: Path, password: str = "") -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(ROOT),
            str(src_root),
            str(dst_root),
            mode,
            password,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def settle() -> None:
    """Flush the page cache's dirty pages and let the file system finish the last tool's deletions.

    Without it a tool pays for the write-back and the (online discard of the) deletions of the one before it:
    on this machine that alone moved a tool's time by up to 2x, depending on its position in the round.
    """
    os.sync()
    time.sleep(SETTLE_S)


TOOLS = ("ours", "rsync+sha256sum", "rsync", "cp")

VERIFY = r"""
set -e
src=$1 dst=$2 lists=$3
rsync -a "$src/data/" "$dst/data/"
(cd "$src/data" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$lists/src.sha256"
(cd "$dst/data" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$lists/dst.sha256"
cmp -s "$lists/src.sha256" "$lists/dst.sha256"
"""


def run_tool(tool: str, src_root: Path, dst: Path, work: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MB or 0) of one run of ``tool`` from ``src_root/data`` into ``dst/data``."""
    if tool == "ours":
        r = ours("copy", src_root, dst)
        return r["seconds"], r["peak_rss_mb"]
    if tool == "rsync+sha256sum":
        lists = work / "lists"
        lists.mkdir(exist_ok=True)
        return timed(["sh", "-c", VERIFY, "verify", str(src_root), str(dst), str(lists)]), 0.0
    if tool == "rsync":
        return timed(["rsync", "-a", f"{src_root}/data/", f"{dst}/data/"]), 0.0
    return timed(["cp", "-a", f"{src_root}/data", f"{dst}/data"]), 0.0


def compare(label: str, src_root: Path, work: Path, size_mb: float) -> dict[str, Any]:
    runs: dict[str, list[float]] = {t: [] for t in TOOLS}
    peak = 0.0
    tools = list(TOOLS)
    for round_no in range(ROUNDS + 1):  # round 0 warms the page cache and is not counted
        k = round_no % len(tools)
        for tool in tools[k:] + tools[:k]:  # each tool in each position in turn
            dst = work / "dst"
            shutil.rmtree(dst, ignore_errors=True)
            dst.mkdir()
            settle()
            seconds, rss = run_tool(tool, src_root, dst, work)
            peak = max(peak, rss)
            if round_no:
                runs[tool].append(seconds)
            shutil.rmtree(dst, ignore_errors=True)
    median = {k: statistics.median(v) for k, v in runs.items()}
    return {
        "data": label,
        "mb": size_mb,
        "rounds": ROUNDS,
        "runs_s": runs,
        "median_s": median,
        "mb_per_s": {k: size_mb / v for k, v in median.items()},
        "ours_vs_rsync_sha256sum": median["rsync+sha256sum"] / median["ours"],
        "ours_vs_rsync": median["rsync"] / median["ours"],
        "ours_peak_rss_mb": peak,
    }


def table(results: dict[str, Any]) -> str:
    """The report: one row per data set and one per target, as Markdown."""
    lines = [
        f"{TOTAL_MB} MB each; median of {ROUNDS} rounds (round 0, which warms the page cache, not counted).",
        "",
        "| data | ours | rsync -a + sha256sum | rsync -a | cp -a | ours / (rsync+sha256sum) | ours / rsync | "
        "our peak RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in ("many_files", "one_file"):
        r = results[key]
        t = r["mb_per_s"]
        lines.append(
            f"| {r['mb']:.0f} MB, {r['data']} | {t['ours']:.0f} MB/s | {t['rsync+sha256sum']:.0f} MB/s | "
            f"{t['rsync']:.0f} MB/s | {t['cp']:.0f} MB/s | **{r['ours_vs_rsync_sha256sum']:.2f}** | "
            f"**{r['ours_vs_rsync']:.2f}** | {r['ours_peak_rss_mb']:.0f} MB |"
        )
    z = results["zip_aes256"]
    many, one = results["many_files"], results["one_file"]
    peak = max(many["ours_peak_rss_mb"], one["ours_peak_rss_mb"])
    checks = [
        ("ours >= 1.0x rsync -a + sha256sum, many files", many["ours_vs_rsync_sha256sum"], 1.0),
        ("ours >= 1.0x rsync -a + sha256sum, one file", one["ours_vs_rsync_sha256sum"], 1.0),
        ("ours >= 0.8x rsync -a, one file", one["ours_vs_rsync"], 0.8),
    ]
    lines += ["", "| target | figure | met |", "|---|---|---|"]
    lines += [f"| {name} | {got:.2f} | {'yes' if got >= want else 'NO'} |" for name, got, want in checks]
    lines.append(f"| peak RSS < 100 MB | {peak:.0f} MB | {'yes' if peak < 100 else 'NO'} |")
    lines += [
        "",
        f"zip AES-256 of {z['mb']} MB: ours {z['ours_s']:.1f} s, 7z {z['7z_s']:.1f} s "
        f"(ours/7z throughput {z['ours_vs_7z']:.2f})",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    if not shutil.which("rsync") or not shutil.which("7z") or not shutil.which("sha256sum"):
        raise SystemExit("bench/nas.py needs rsync, sha256sum and 7z: run `make sysdeps`")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ops-bench-nas-", dir=os.environ.get("BENCH_NAS_DIR")) as tmp:
        work = Path(tmp)
        many, one = work / "many", work / "one"
        per_file = TOTAL_MB * MB // FILES
        for i in range(FILES):
            write_random(many / "data" / f"d{i // 1000:02d}" / f"f{i:05d}.bin", per_file)
        write_random(one / "data" / "big.bin", TOTAL_MB * MB)
        results["many_files"] = compare(f"{FILES} files", many, work, TOTAL_MB)
        results["one_file"] = compare("one file", one, work, TOTAL_MB)

        zsrc = work / "zsrc"
        write_random(zsrc / "data" / "part.bin", ZIP_MB * MB)
        zdst = work / "zdst"
        zdst.mkdir()
        ours_zip = ours("zip", zsrc, zdst, PASSWORD)["seconds"]
        seven = timed(
            ["7z", "a", "-tzip", "-mem=AES256", "-mx=5", f"-p{PASSWORD}", str(zdst / "7z.zip"), "data"], cwd=zsrc
        )
        results["zip_aes256"] = {"mb": ZIP_MB, "ours_s": ours_zip, "7z_s": seven, "ours_vs_7z": seven / ours_zip}
    finish("nas", "NAS transfer against rsync, sha256sum, cp and 7z", results, table(results))


if __name__ == "__main__":
    main()
