"""The sandbox's local folders that stand in for file servers and engines (no server process):

* ``restore/``: the restore root of INFO-013 (``ops_restore_root`` of inventories/sandbox);
* ``nas/prod``, ``nas/maint``: the NAS shares of the transfer host, with working files and a release;
* ``servers/<host>/release``: the release folders of the production servers (STAT-007);
* ``datastage/``: the DataStage SIMULATOR's home (tools/datastage_sim), and ``datastage-backups/``, which the
  STAT-015 runs of the sandbox write.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ops_sandbox import simulators

#: What :func:`remove` clears, relative to the sandbox folder.
FOLDERS = ("restore", "nas", "servers", "datastage", "datastage-backups")


def seed_nas(nas: Path) -> None:
    """The NAS shares of the transfer host as folders: nas/prod with working files, nas/maint with a release."""
    work = nas / "prod" / "work" / "2026-11"
    (work / "detail").mkdir(parents=True, exist_ok=True)
    (work / "summary.csv").write_text("month,count\n2026-11,1234\n", encoding="utf-8")
    (work / "persons.csv").write_text("id,name,birth\n1,佐藤,1970-01-01\n", encoding="utf-8")
    (work / "detail" / "part-001.csv").write_text("id,value\n" + "".join(f"{i},{i * 7}\n" for i in range(500)),
                                                  encoding="utf-8")
    release = nas / "maint" / "release" / "R2026-11"
    release.mkdir(parents=True, exist_ok=True)
    (release / "jobs.dsx").write_text("BEGIN HEADER\nEND HEADER\n", encoding="utf-8")
    for server in ("stat-ap01", "stat-ap02"):  # the release folders of the production servers (STAT-007)
        (nas.parent / "servers" / server / "release").mkdir(parents=True, exist_ok=True)


def seed_datastage(home: Path) -> None:
    """The DataStage SIMULATOR's state (tools/datastage_sim: projects STATPRJ and STATDEV, an authfile) in ``home``.

    Raises ``RunFailed`` when the simulator is missing (see ``simulators.load``).
    """
    simulators.load("datastage").seed_datastage(home)


def seed(d: Path) -> None:
    """Create the folders of the sandbox folder ``d`` (existing files are kept, seeded files rewritten)."""
    (d / "restore").mkdir(exist_ok=True)
    seed_nas(d / "nas")
    seed_datastage(d / "datastage")


def remove(d: Path) -> None:
    """Remove every folder of :data:`FOLDERS` from the sandbox folder ``d``, with whatever the runs put there."""
    for name in FOLDERS:
        shutil.rmtree(d / name, ignore_errors=True)
