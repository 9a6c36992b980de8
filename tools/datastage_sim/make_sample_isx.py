#!/usr/bin/env python3
"""Make examples/packages/release-R2026-11.isx from the .dsx next to it (module_utils/datastage_package.py).

    .venv/bin/python tools/datastage_sim/make_sample_isx.py [SOURCE.dsx [DEST.isx]]
The archive is byte-for-byte reproducible (fixed ZIP timestamps) so that it can be committed.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "module_utils"))

import datastage_package as pkg  # noqa: E402


def make(src: Path, dest: Path) -> Path:
    parsed = pkg.parse_package(str(src))
    header = parsed["header"]
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        def put(name: str, text: str) -> None:
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 18, 17, 30, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text)

        put(pkg.MANIFEST, pkg.manifest_text(parsed["assets"], header.get("ServerName", ""),
                                            header.get("ToolInstanceID", "")))
        for a in parsed["assets"]:
            put(a["path"], a["text"])
    return dest


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "examples" / "packages" / "release-R2026-11.dsx"
    dest = Path(sys.argv[2]) if len(sys.argv) > 2 else src.with_suffix(".isx")
    print(make(src, dest))
