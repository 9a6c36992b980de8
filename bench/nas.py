"""make bench (NAS part, issue #4): our transfer against rsync -a and cp -a on the same data, zip AES-256
against the 7z command line, and the peak memory of our transfer of one large file.

Data (``BENCH_NAS_MB``, default 2048 MB each): many files (``BENCH_NAS_FILES``, default 20,000) and one
file. Our transfer is the module's copy path (module_utils/nas_transfer.py: select, plan, streamed copy with
the SHA-256 of the source, every block read back from the destination and compared, manifests compared), run
in a child process so that its peak RSS is its own. The zip comparison uses ``BENCH_NAS_ZIP_MB`` (default
512 MB) of the single file. Every tool reads the same source from the page cache (round 0 is not counted);
the best of ``BENCH_NAS_ROUNDS`` (default 3) rounds counts, the tools take turns in first place, and before
every timed run the file system is flushed and left ``BENCH_NAS_SETTLE_S`` (default 3) seconds to settle.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
TOTAL_MB = int(os.environ.get("BENCH_NAS_MB", "2048"))
FILES = int(os.environ.get("BENCH_NAS_FILES", "20000"))
ZIP_MB = int(os.environ.get("BENCH_NAS_ZIP_MB", "512"))
ROUNDS = int(os.environ.get("BENCH_NAS_ROUNDS", "3"))
SETTLE_S = float(os.environ.get("BENCH_NAS_SETTLE_S", "3"))
PASSWORD = "bench-password"

CHILD = r"""
import importlib.util, json, os, resource, sys, time
spec = importlib.util.spec_from_file_location("nas", sys.argv[1])
nas = importlib.util.module_from_spec(spec); spec.loader.exec_module(nas)
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
            str(ROOT / "module_utils" / "nas_transfer.py"),
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


def compare(label: str, src_root: Path, work: Path, size_mb: float) -> dict[str, Any]:
    runs: dict[str, list[float]] = {"ours": [], "rsync": [], "cp": []}
    peak = 0.0
    tools = ["ours", "rsync", "cp"]
    for round_no in range(ROUNDS + 1):  # round 0 warms the page cache and is not counted
        for tool in tools[round_no % 3 :] + tools[: round_no % 3]:  # each tool in each position in turn
            dst = work / f"dst-{tool}"
            shutil.rmtree(dst, ignore_errors=True)
            dst.mkdir()
            settle()
            if tool == "ours":
                r = ours("copy", src_root, dst)
                seconds, peak = r["seconds"], max(peak, r["peak_rss_mb"])
            elif tool == "rsync":
                seconds = timed(["rsync", "-a", f"{src_root}/data/", f"{dst}/data/"])
            else:
                seconds = timed(["cp", "-a", f"{src_root}/data", f"{dst}/data"])
            if round_no:
                runs[tool].append(seconds)
            shutil.rmtree(dst, ignore_errors=True)
    best = {k: min(v) for k, v in runs.items()}
    return {
        "data": label,
        "mb": size_mb,
        "seconds": best,
        "mb_per_s": {k: size_mb / v for k, v in best.items()},
        "ours_vs_rsync": best["rsync"] / best["ours"],
        "ours_peak_rss_mb": peak,
    }


def main() -> None:
    if not shutil.which("rsync") or not shutil.which("7z"):
        raise SystemExit("bench/nas.py needs rsync and 7z: run `make sysdeps`")
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
    for key in ("many_files", "one_file"):
        r = results[key]
        print(
            f"copy {r['mb']} MB, {r['data']}: ours {r['mb_per_s']['ours']:.0f} MB/s, rsync -a "
            f"{r['mb_per_s']['rsync']:.0f} MB/s, cp -a {r['mb_per_s']['cp']:.0f} MB/s; ours/rsync throughput "
            f"{r['ours_vs_rsync']:.2f} (target >= 0.8); our peak RSS {r['ours_peak_rss_mb']:.0f} MB"
        )
    z = results["zip_aes256"]
    print(
        f"zip AES-256 of {z['mb']} MB: ours {z['ours_s']:.1f} s, 7z {z['7z_s']:.1f} s "
        f"(ours/7z throughput {z['ours_vs_7z']:.2f})"
    )
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "nas.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
