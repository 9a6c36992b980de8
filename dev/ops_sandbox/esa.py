"""The sandbox's ESA appliances: the ESA SIMULATOR (tools/esa_sim/esasim.py) on 127.0.0.1, one SSH port each.

State lives in ``<sandbox>/esa/``: ``esasim.json`` (simulator config), ``<appliance>.json`` (each appliance's
committed configuration), ``<appliance>.commands.log`` (every CLI line received), ``host_key``, ``known_hosts``
(what the inventory checks host keys against), ``ports.json`` (``{inventory host: port}``, read by
``inventories/sandbox/group_vars/esa.yml``), ``password`` (0600: a random password made at ``up``; the simulator
keeps only its SHA-256), ``esasim.pid`` and ``esasim.log``.

The appliances start one entry off the desired state (``desired_state/esa/sandbox.yml``) on purpose, so that an
inventory shows a difference and a reconcile has something to do: see :data:`APPLIANCES`. The two appliances of the
communication system are a cluster (``esa-comm``, the usual production pair) whose HAT is kept at the cluster level
(``cluster-esa-comm.json``; inventory ``esa_sender_groups_cluster_mode: cluster``) on AsyncOS 15 (ALLOWED_LIST /
BLOCKED_LIST); the core system's is a standalone appliance on AsyncOS 13.5 (WHITELIST / BLACKLIST).
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from typing import Any

from ops_sandbox import procs, simulators
from ops_sandbox.procs import HOST

USERNAME = "opsadmin"
PID_FILE, LOG_FILE = "esasim.pid", "esasim.log"  # in the simulator's folder

_COMM_WHITELIST = ["192.0.2.25", "198.51.100.0/26", ".partner.example.jp", "2001:db8:10::25",
                   "192.0.2.99"]  # 192.0.2.99: stale, not in the desired state
_COMM_BLACKLIST = ["SBRS[-10.0:-3.0]", "203.0.113.66", ".spam-sender.example.com"]
_CORE_WHITELIST = ["10.20.0.0/16", "relay.kikan.example.jp"]
_CORE_BLACKLIST = ["SBRS[-10.0:-3.0]", "203.0.113.200-210"]

#: inventory host → the appliance's host name, AsyncOS version, cluster and its sender groups at ``up``
APPLIANCES: dict[str, dict[str, Any]] = {
    "esa-comm-sandbox01": {"hostname": "esa-comm-sandbox01.example.jp", "version": "15.0.0-104",
                           "cluster": "esa-comm",
                           "sender_groups": {"WHITELIST": _COMM_WHITELIST, "BLACKLIST": _COMM_BLACKLIST}},
    "esa-comm-sandbox02": {"hostname": "esa-comm-sandbox02.example.jp", "version": "15.0.0-104",
                           "cluster": "esa-comm",
                           "sender_groups": {"WHITELIST": _COMM_WHITELIST, "BLACKLIST": _COMM_BLACKLIST}},
    "esa-core-sandbox01": {"hostname": "esa-core-sandbox01.example.jp", "version": "13.5.1-277",
                           "sender_groups": {"WHITELIST": _CORE_WHITELIST, "BLACKLIST": _CORE_BLACKLIST}},
}
#: the clusters of :data:`APPLIANCES` (the level their HAT is kept at)
CLUSTERS: dict[str, dict[str, Any]] = {"esa-comm": {"level": "cluster", "group": "Main_Group"}}


def ports(directory: Path) -> dict[str, int]:
    """``{inventory host: SSH port}`` of a running simulator; empty when there is none."""
    try:
        data: dict[str, int] = json.loads((directory / "ports.json").read_text())
        return data
    except (OSError, ValueError):
        return {}


def running(directory: Path) -> bool:
    """Whether the simulator of ``directory`` is alive and accepts connections on every port of ``ports.json``."""
    pid = procs.read_pid(directory / PID_FILE)
    return pid is not None and procs.alive(pid) and all(procs.accepts(p) for p in ports(directory).values())


def state_file(directory: Path, appliance: str) -> Path:
    return directory / f"{appliance}.json"


def seed(directory: Path) -> None:
    """Put every appliance back to its committed state at ``up`` and empty its command log. The simulator may be
    running (it reads the state file at each session)."""
    sim = simulators.load("esa")
    sim.seed_states(directory, [dict(spec, name=name) for name, spec in APPLIANCES.items()], CLUSTERS)


def up(directory: Path, timeout_s: float = 20.0) -> None:
    """Seed and start the simulator for :data:`APPLIANCES` unless it runs (idempotent)."""
    if running(directory):
        return
    down(directory)
    sim = simulators.load("esa")
    directory.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(18)
    appliances = [dict(a, name=n, port=port)
                  for (n, a), port in zip(APPLIANCES.items(), procs.free_ports(len(APPLIANCES)), strict=True)]
    config = sim.seed_esa(directory, appliances, username=USERNAME, password=password, host=HOST,
                          clusters=CLUSTERS)
    pw = directory / "password"
    pw.write_text(password + "\n")
    pw.chmod(0o600)
    (directory / "ports.json").write_text(json.dumps({a["name"]: a["port"] for a in appliances}, indent=2) + "\n")
    proc = procs.spawn([sys.executable, simulators.path("esa"), "serve", "--config", config,
                        "--pid-file", directory / PID_FILE], log=directory / LOG_FILE, pid_file=directory / PID_FILE)
    procs.wait_ready(proc, lambda: all(procs.accepts(a["port"]) for a in appliances),
                     name="sandbox: the ESA simulator", log=directory / LOG_FILE, timeout_s=timeout_s)


def down(directory: Path, timeout_s: float = 10.0) -> None:
    """Stop the simulator (idempotent); its state files stay until the sandbox folder goes."""
    pid = procs.read_pid(directory / PID_FILE)
    if pid is None:
        return
    procs.stop(pid, timeout_s=timeout_s)
    (directory / PID_FILE).unlink(missing_ok=True)
    (directory / "ports.json").unlink(missing_ok=True)
