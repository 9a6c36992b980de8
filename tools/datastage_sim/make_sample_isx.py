#!/usr/bin/env python3
"""Make examples/packages/release-R2026-11.isx from the .dsx next to it, in istool's layout: the XML
META-INF/IS-MANIFEST.MF, each asset's XML definition at HOST/PROJECT/<folder>/<Name>.<ext>, and for jobs the
executable (.bin; includeexecutable true) - see module_utils/datastage_package.py for the sources of the layout.

    .venv/bin/python tools/datastage_sim/make_sample_isx.py [SOURCE.dsx [DEST.isx]]
The archive is byte-for-byte reproducible (fixed ZIP dates, fixed manifest dates) so that it can be committed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "module_utils"))

import datastage_package as pkg  # noqa: E402


def make(src: Path, dest: Path) -> Path:
    parsed = pkg.parse_package(str(src.resolve()))
    header = parsed["header"]
    assets = []
    for a in parsed["assets"]:
        m = re.search(r'^\s*Description\s+"(.*)"\s*$', a["text"], re.M)
        assets.append(dict(kind=a["kind"], name=a["name"], ext=a["ext"], folder=a["folder"],
                           data=pkg.sdo_xml(a["kind"], a["name"], a["job_type"], m.group(1) if m else "",
                                            body=a["text"]).encode("utf-8"),
                           executable=("BEGIN HEADER\nEND HEADER\n" + a["text"]).encode("utf-8")
                           if a["kind"] == "job" else None))
    host, project = header.get("ServerName", "DSENGINE01"), header.get("ToolInstanceID", "STATDEV")
    return Path(pkg.write_isx(str(dest), host, project, assets))


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "examples" / "packages" / "release-R2026-11.dsx"
    dest = Path(sys.argv[2]) if len(sys.argv) > 2 else src.with_suffix(".isx")
    print(make(src, dest))
