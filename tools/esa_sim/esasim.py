#!/usr/bin/env python3
# ruff: noqa: UP031 - %-formatting, like tools/datastage_sim/dssim.py
"""SIMULATOR of the Cisco Secure Email Gateway (ESA, AsyncOS) CLI over SSH - sandbox and tests only.

Not Cisco software and not part of any production code path. It speaks the dialogue written down in
DIALOGUE.md next to this file (listenerconfig -> EDIT -> HOSTACCESS -> sender groups, commit, clear); README.md
says which Cisco document each behaviour follows and what is approximated.

    python tools/esa_sim/esasim.py serve --config DIR/esasim.json [--pid-file FILE]

One process serves every appliance of the config (one SSH listener per port, loopback only, password
authentication checked against sha256 digests). Library API (used by the sandbox and the tests): seed_esa,
read_state, write_state, arm_fault, sender_group_entries, sender_kind, valid_sender.

Python 3.11, standard library + asyncssh only; it imports nothing from the project.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import fcntl
import functools
import hashlib
import hmac
import ipaddress
import json
import os
import re
import signal
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import asyncssh

MODEL = "C600V"
VERSION = "15.0.0-104"
NOT_AVAILABLE = "This option is not available in the ESA simulator."
CATCH_ALL = "ALL"

# Mail flow policies of the HAT text format (PRINT), per listener type.
POLICY_TEXT: dict[str, list[str]] = {
    "$BLOCKED": ["    REJECT {}"],
    "$TRUSTED": ["    ACCEPT {", "        max_msgs_per_session = 5000", "        max_rcpts_per_msg = 5000",
                 '        spam_check = "off"', "    }"],
    "$THROTTLED": ["    ACCEPT {", "        max_msgs_per_session = 10", '        spam_check = "on"', "    }"],
    "$ACCEPTED": ["    ACCEPT {}"],
    "$RELAYED": ["    RELAY {}"],
}
LISTENER_POLICIES: dict[str, list[str]] = {
    "Public": ["$BLOCKED", "$TRUSTED", "$THROTTLED", "$ACCEPTED"],
    "Private": ["$BLOCKED", "$RELAYED"],
}
# (name, policy, comment, default entries) in table order; the catch-all ALL is always last.
#: AsyncOS 14.0 and later call the list sender groups ALLOWED_LIST / BLOCKED_LIST (Cisco TechNote on HAT
#: export/import); before, WHITELIST / BLACKLIST. PUBLIC_GROUPS holds the old names; initial_state renames.
NAMES_14 = {"WHITELIST": "ALLOWED_LIST", "BLACKLIST": "BLOCKED_LIST"}
PAGER = "-Press Any Key For More-"  # Netshot Cisco_AsyncOS.js, CLI.oper.pager
PAGER_LINES = 40  # lines per page (the appliance's page length is not confirmed; the pager cannot be disabled)
LEVELS = ("cluster", "group", "machine")
PUBLIC_GROUPS: list[tuple[str, str, str, list[str]]] = [
    ("WHITELIST", "$TRUSTED", "My trusted senders have no anti-spam scanning or rate limiting", []),
    ("BLACKLIST", "$BLOCKED", "Spammers are rejected", []),
    ("SUSPECTLIST", "$THROTTLED", "Suspicious senders are throttled", ["SBRS[-3.0:-1.0]"]),
    ("UNKNOWNLIST", "$ACCEPTED", "Reviewed but undecided, continue normal acceptance",
     ["SBRS[-1.0:10.0]", "SBRS[none]"]),
    (CATCH_ALL, "$ACCEPTED", "Everyone else", []),
]
PRIVATE_GROUPS: list[tuple[str, str, str, list[str]]] = [
    ("RELAYLIST", "$RELAYED", "Hosts allowed to relay through this listener", []),
    (CATCH_ALL, "$BLOCKED", "Everyone else", []),
]
LISTENERS: list[dict[str, Any]] = [
    {"name": "InboundMail", "type": "Public", "interface": "Data 1", "ip": "192.0.2.10", "port": 25},
    {"name": "OutboundMail", "type": "Private", "interface": "Data 2", "ip": "192.0.2.11", "port": 25},
]
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


# -- sender syntax (User Guide, HAT chapter, "Sender Group Syntax") -------------------------------------------
_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_DIGITS_RE = re.compile(r"[0-9]+")
_IPV4_RE = re.compile(r"([0-9]{1,3}(?:\.[0-9]{1,3}){0,3})(\.?)")
_IPV4_RANGE_RE = re.compile(r"((?:[0-9]{1,3}\.){0,3})([0-9]{1,3})-([0-9]{1,3})(\.?)")
_IPV4_CIDR_RE = re.compile(r"([0-9]{1,3}(?:\.[0-9]{1,3}){0,3})/([0-9]{1,2})")
_NUM = r"\s*([+-]?[0-9]{1,2}(?:\.[0-9]+)?)\s*"
_SBRS_RE = re.compile(r"SBRS\[" + _NUM + ":" + _NUM + r"\]", re.IGNORECASE)
_SBRS_NONE_RE = re.compile(r"SBRS\[none\]", re.IGNORECASE)
_SBO_RE = re.compile(r"SBO:[0-9]{1,10}", re.IGNORECASE)
_DNSLIST_RE = re.compile(r"dnslist\[([^\]]+)\]", re.IGNORECASE)
_HOSTNAME_KINDS = frozenset({"hostname", "partial_hostname"})


def _octets_ok(octets: Iterable[str]) -> bool:
    return all(int(o) <= 255 for o in octets)


def _hostname_ok(name: str, min_labels: int) -> bool:
    if not name or len(name) > 253:
        return False
    labels = name.split(".")
    if len(labels) < min_labels or not all(_LABEL_RE.fullmatch(label) for label in labels):
        return False
    return not _DIGITS_RE.fullmatch(labels[-1])  # an all-numeric last label is an (invalid) IP address


def _ipv4_kind(s: str) -> str | None:
    m = _IPV4_CIDR_RE.fullmatch(s)
    if m:
        return "ipv4_cidr" if _octets_ok(m.group(1).split(".")) and int(m.group(2)) <= 32 else None
    m = _IPV4_RANGE_RE.fullmatch(s)
    if m:
        prefix = [o for o in m.group(1).split(".") if o]
        lo, hi = int(m.group(2)), int(m.group(3))
        if len(prefix) == 3 and m.group(4):
            return None  # n.n.n.n-n. has no trailing dot
        return "ipv4_range" if _octets_ok(prefix) and lo <= hi <= 255 else None
    m = _IPV4_RE.fullmatch(s)
    if m:
        octets = m.group(1).split(".")
        if not _octets_ok(octets) or (len(octets) == 4 and m.group(2)):
            return None
        return "ipv4" if len(octets) == 4 else "ipv4_partial"
    return None


def _ipv6_kind(s: str) -> str | None:
    if "%" in s:
        return None
    try:
        if "/" in s:
            ipaddress.IPv6Network(s, strict=False)
            return "ipv6_cidr"
        if "-" in s:
            lo, _sep, hi = s.partition("-")
            return "ipv6_range" if ipaddress.IPv6Address(lo) <= ipaddress.IPv6Address(hi) else None
        ipaddress.IPv6Address(s)
        return "ipv6"
    except ValueError:
        return None


def sender_kind(sender: str) -> str | None:
    """The kind of a HAT sender group entry as AsyncOS accepts it, or None when it is not a valid sender.

    Kinds: ipv4, ipv4_partial, ipv4_range, ipv4_cidr, ipv6, ipv6_range, ipv6_cidr, hostname, partial_hostname,
    sbrs, sbo, dnslist.
    """
    s = sender.strip()
    if not s or "@" in s or any(c.isspace() for c in s) or not s.isascii():
        return None
    if re.fullmatch(r"[0-9./-]+", s):
        return _ipv4_kind(s)
    if _SBRS_NONE_RE.fullmatch(s):
        return "sbrs"
    m = _SBRS_RE.fullmatch(s)
    if m:
        lo, hi = float(m.group(1)), float(m.group(2))
        return "sbrs" if -10.0 <= lo <= hi <= 10.0 else None
    if _SBO_RE.fullmatch(s):
        return "sbo"
    m = _DNSLIST_RE.fullmatch(s)
    if m:
        return "dnslist" if _hostname_ok(m.group(1), 2) else None
    if ":" in s:
        return _ipv6_kind(s)
    if s.startswith("."):
        return "partial_hostname" if _hostname_ok(s[1:], 1) else None
    return "hostname" if _hostname_ok(s, 2) else None


def valid_sender(sender: str) -> bool:
    return sender_kind(sender) is not None


def sender_key(sender: str) -> str:
    """Duplicate key: exact text, host names (full and partial) case-insensitive."""
    return sender.lower() if sender_kind(sender) in _HOSTNAME_KINDS else sender


# -- state files ---------------------------------------------------------------------------------------------
def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso() -> str:
    return _now().isoformat(timespec="milliseconds")


def _cli_time(when: dt.datetime) -> str:
    return when.strftime("%a %b %d %H:%M:%S %Y")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Exclusive fcntl lock on the sidecar ``<state>.lock`` file (not re-entrant)."""
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_unlocked(path: Path, state: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(state, f, indent=1, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_state(path: str | Path) -> dict[str, Any]:
    """The committed state of one appliance (writes are atomic, so no lock is needed to read)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_state(path: str | Path, state: dict[str, Any]) -> None:
    """Write the state atomically (temp file + os.replace) under the lock of its sidecar ``.lock`` file."""
    p = Path(path)
    with _locked(p):
        _write_unlocked(p, state)


def arm_fault(state_path: str | Path, name: str, value: Any) -> None:
    """Set ``faults[name] = value`` in the state file (None removes it). Read by the server when it applies."""
    p = Path(state_path)
    with _locked(p):
        state = read_state(p)
        faults = state.setdefault("faults", {})
        if value is None:
            faults.pop(name, None)
        else:
            faults[name] = value
        _write_unlocked(p, state)


def _find_listener(state: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((x for x in state.get("listeners", []) if x["name"] == name), None)


def _find_group(listener: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((g for g in listener.get("sender_groups", []) if g["name"] == name), None)


def config_path(state_path: str | Path) -> Path:
    """The file holding the listeners (the HAT) an appliance uses: its own state file, or, for a machine of a
    cluster whose listenerconfig is kept at the cluster (or group) level, the cluster's shared file."""
    state = read_state(state_path)
    cluster = state.get("cluster")
    if cluster and cluster.get("level") in ("cluster", "group"):
        return Path(cluster["state"])
    return Path(state_path)


def effective_state(state_path: str | Path) -> dict[str, Any]:
    """The committed configuration an appliance works with (see config_path)."""
    return read_state(config_path(state_path))


def major_version(state: dict[str, Any]) -> int:
    try:
        return int(str(state.get("version", VERSION)).split(".", 1)[0])
    except ValueError:
        return 0


def sender_group_entries(state_path: str | Path, listener: str, group: str) -> list[str]:
    """The committed entries of one sender group as the appliance sees them (cluster level included); KeyError when
    the listener or group does not exist. ``group`` WHITELIST/BLACKLIST also finds ALLOWED_LIST/BLOCKED_LIST and
    the other way round."""
    state = effective_state(state_path)
    lst = _find_listener(state, listener)
    if lst is not None and _find_group(lst, group) is None:
        group = {**NAMES_14, **{v: k for k, v in NAMES_14.items()}}.get(group, group)
    if lst is None:
        raise KeyError(listener)
    grp = _find_group(lst, group)
    if grp is None:
        raise KeyError(group)
    return list(grp["hosts"])


# -- seeding -------------------------------------------------------------------------------------------------
def _require_loopback(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError("the ESA simulator listens on a loopback address only (127.0.0.1 or ::1), not %r" % host)


def _known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else "[%s]:%d" % (host, port)


def _host_key(path: Path) -> asyncssh.SSHKey:
    """Reuse the host key in ``path`` when it is an ed25519 key (re-seeding keeps known_hosts valid)."""
    if path.exists():
        with contextlib.suppress(OSError, ValueError, asyncssh.KeyImportError):
            key = asyncssh.read_private_key(str(path))
            if key.get_algorithm() == "ssh-ed25519":
                return key
    key = asyncssh.generate_private_key("ssh-ed25519")
    _write_private(path, key.export_private_key("openssh"))
    return key


def _write_private(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _seed_groups(spec: dict[str, Any], defaults: list[tuple[str, str, str, list[str]]],
                 where: str) -> list[dict[str, Any]]:
    groups = [{"name": n, "policy": p, "comment": c, "hosts": list(h)} for n, p, c, h in defaults]
    for name, value in spec.items():
        if name == CATCH_ALL:
            raise ValueError("%s: the catch-all sender group ALL has no entries" % where)
        if isinstance(value, dict):
            hosts, policy, comment = value.get("hosts", []), value.get("policy"), value.get("comment")
        else:
            hosts, policy, comment = value, None, None
        group = next((g for g in groups if g["name"] == name), None)
        if group is None:
            group = {"name": name, "policy": policy or "$ACCEPTED", "comment": comment or "", "hosts": []}
            groups.insert(len(groups) - 1, group)  # before ALL
        else:
            group["policy"] = policy or group["policy"]
            group["comment"] = comment if comment is not None else group["comment"]
        entries: list[str] = []
        seen: set[str] = set()
        for raw in hosts:
            entry = str(raw).strip()
            if not valid_sender(entry):
                raise ValueError("%s: sender group %s: %r is not a valid sender" % (where, name, raw))
            key = sender_key(entry)
            if key not in seen:  # duplicates are discarded, as on the appliance
                seen.add(key)
                entries.append(entry)
        group["hosts"] = entries
    return groups


def initial_state(appliance: dict[str, Any]) -> dict[str, Any]:
    """The committed state of a freshly seeded appliance (see seed_esa for the appliance dict). On AsyncOS 14 and
    later the list groups are ALLOWED_LIST / BLOCKED_LIST, and a seed key WHITELIST / BLACKLIST means them."""
    name = appliance["name"]
    version = str(appliance.get("version") or VERSION)
    new_names = major_version({"version": version}) >= 14
    rename = NAMES_14 if new_names else {v: k for k, v in NAMES_14.items()}
    by_listener: dict[str, dict[str, Any]] = {"InboundMail": {}, "OutboundMail": {}}
    for key, value in (appliance.get("sender_groups") or {}).items():
        listener, sep, group = key.partition("/")
        if not sep:
            listener, group = "InboundMail", key
        if listener not in by_listener:
            raise ValueError("%s: no listener %s (InboundMail, OutboundMail)" % (name, listener))
        by_listener[listener][rename.get(group, group)] = value
    listeners = []
    for base in LISTENERS:
        defaults = PUBLIC_GROUPS if base["type"] == "Public" else PRIVATE_GROUPS
        if new_names:
            defaults = [(NAMES_14.get(n, n), pol, com, hosts) for n, pol, com, hosts in defaults]
        listeners.append(dict(base, sender_groups=_seed_groups(by_listener[base["name"]], defaults,
                                                               "%s/%s" % (name, base["name"]))))
    return {"hostname": appliance.get("hostname") or name, "model": MODEL, "version": version,
            "listeners": listeners, "commits": [], "faults": {}}


def seed_states(directory: Path, appliances: list[dict[str, Any]],
                clusters: dict[str, dict[str, Any]] | None = None) -> None:
    """Write every appliance's state file ``<name>.json`` (and each cluster's ``cluster-<cluster>.json``) and empty
    the command logs. An appliance with ``"cluster": NAME`` joins ``clusters[NAME]`` (``{"level": "cluster" |
    "group" | "machine", "group": "Main_Group"}``): at cluster or group level its listeners live in the cluster's
    shared file, seeded from the cluster's first appliance, so one commit changes every machine of the cluster."""
    d = Path(directory)
    clusters = clusters or {}
    members: dict[str, list[dict[str, Any]]] = {}
    for app in appliances:
        if app.get("cluster"):
            if app["cluster"] not in clusters:
                raise ValueError("appliance %s: no cluster %s" % (app["name"], app["cluster"]))
            members.setdefault(app["cluster"], []).append(app)
    for cname, apps in members.items():
        spec = clusters[cname]
        level = spec.get("level", "cluster")
        if level not in LEVELS or not _NAME_RE.fullmatch(cname):
            raise ValueError("cluster %s: level %r is not one of %s" % (cname, level, ", ".join(LEVELS)))
        shared = d / ("cluster-%s.json" % cname)
        if level in ("cluster", "group"):
            write_state(shared, initial_state(dict(apps[0], name=cname, hostname=cname)))
        machines = [a.get("hostname") or a["name"] for a in apps]
        for app in apps:
            state = initial_state(app)
            if level in ("cluster", "group"):
                del state["listeners"]
                state["commits"] = []
            state["cluster"] = {"name": cname, "group": spec.get("group", "Main_Group"), "level": level,
                                "state": str(shared), "machines": machines}
            write_state(d / ("%s.json" % app["name"]), state)
    for app in appliances:
        if not app.get("cluster"):
            write_state(d / ("%s.json" % app["name"]), initial_state(app))
    for app in appliances:
        log = d / ("%s.commands.log" % app["name"])
        log.write_text("", encoding="utf-8")
        os.chmod(log, 0o600)


def seed_esa(directory: Path, appliances: list[dict[str, Any]], *, username: str, password: str,
             host: str = "127.0.0.1", clusters: dict[str, dict[str, Any]] | None = None) -> Path:
    """Create (or re-create) the simulator's folder; returns the config file ``directory/esasim.json``.

    ``appliances``: ``[{"name", "hostname", "port", "sender_groups": {"WHITELIST": [...], ...}}]``. A group value
    is a list of senders or ``{"hosts": [...], "policy": "$X", "comment": "..."}``; an unknown group name creates
    a group before ALL; ``"OutboundMail/RELAYLIST"`` addresses a group of the other listener. Writes ``host_key``
    (ed25519, kept when it already exists), ``known_hosts`` (``[host]:port ssh-ed25519 AAAA...`` per appliance),
    ``<name>.json`` (state, overwritten) and ``<name>.commands.log`` (emptied) per appliance.
    """
    _require_loopback(host)
    if not username or not password:
        raise ValueError("username and password are required")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    key = _host_key(d / "host_key")
    algorithm, blob = key.export_public_key("openssh").decode("ascii").split()[:2]
    names: set[str] = set()
    ports: set[int] = set()
    conf: list[dict[str, Any]] = []
    known: list[str] = []
    for app in appliances:
        name, port = str(app["name"]), int(app["port"])
        if not _NAME_RE.fullmatch(name) or name in names:
            raise ValueError("appliance name %r is not a unique file-name-safe name" % name)
        if not 0 < port < 65536 or port in ports:
            raise ValueError("appliance %s: port %r is not a unique TCP port" % (name, app["port"]))
        names.add(name)
        ports.add(port)
        state_path, log_path = d / ("%s.json" % name), d / ("%s.commands.log" % name)
        conf.append({"name": name, "port": port, "state": str(state_path), "log": str(log_path)})
        known.append("%s %s %s" % (_known_hosts_name(host, port), algorithm, blob))
    seed_states(d, appliances, clusters)
    config = {"host": host, "host_key": str(d / "host_key"),
              "users": {username: {"password_sha256": hashlib.sha256(password.encode("utf-8")).hexdigest()}},
              "appliances": conf}
    config_path = d / "esasim.json"
    _write_private(config_path, (json.dumps(config, indent=2) + "\n").encode("utf-8"))
    _write_private(d / "known_hosts", ("\n".join(known) + "\n").encode("ascii"))
    return config_path


# -- the server ----------------------------------------------------------------------------------------------
class _Closed(Exception):
    """The session ends (EOF from the client, exit, or a dropped connection)."""


class Appliance:
    """One simulated appliance: its state file, its command log and its session counter."""

    def __init__(self, name: str, port: int, state_path: Path, log_path: Path) -> None:
        self.name = name
        self.port = port
        self.state_path = state_path
        self.log_path = log_path
        self.sessions = _last_session(log_path)
        self._faults: tuple[tuple[int, int, int], dict[str, Any]] | None = None

    def next_session(self) -> int:
        self.sessions += 1
        return self.sessions

    def log(self, session: int, user: str, line: str) -> None:
        record = json.dumps({"t": _iso(), "session": session, "user": user, "line": line}, ensure_ascii=False)
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(record + "\n")

    def faults(self) -> dict[str, Any]:
        """The state's faults, re-read whenever the state file changed (cached by inode, mtime and size)."""
        try:
            st = os.stat(self.state_path)
        except OSError:
            return {}
        sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._faults is None or self._faults[0] != sig:
            try:
                faults = read_state(self.state_path).get("faults") or {}
            except (OSError, ValueError):
                faults = {}
            self._faults = (sig, faults)
        return self._faults[1]

    def commit(self, ops: list[tuple[str, str, str, str]], user: str,
               comment: str) -> tuple[str, dict[str, Any] | str]:
        """Apply a session's pending operations to the freshly read state. Returns ("ok", new state),
        ("fail", reason) or ("drop", "") - faults are taken (decremented) under the same lock."""
        with _locked(self.state_path):
            own = read_state(self.state_path)
            faults = own.setdefault("faults", {})
            for name, outcome in (("disconnect_on_commit", "drop"), ("commit_fail", "fail")):
                n = faults.get(name)
                if isinstance(n, int | float) and n > 0:
                    faults[name] = int(n) - 1
                    _write_unlocked(self.state_path, own)
                    return outcome, ("" if outcome == "drop" else
                                     "the configuration could not be saved (simulated commit_fail fault)")
            where = config_path(self.state_path)
            if where == self.state_path:
                apply_ops(own, ops)
                own.setdefault("commits", []).append({"at": _iso(), "user": user, "comment": comment})
                _write_unlocked(self.state_path, own)
                return "ok", own
        with _locked(where):  # the cluster's shared configuration
            state = read_state(where)
            apply_ops(state, ops)
            state.setdefault("commits", []).append({"at": _iso(), "user": user, "comment": comment,
                                                    "machine": self.name})
            _write_unlocked(where, state)
            return "ok", state


def apply_ops(state: dict[str, Any], ops: list[tuple[str, str, str, str]]) -> None:
    """Apply ``("add"|"del", listener, group, sender)`` operations; additions already present and deletions
    already gone (another session's commit) are skipped; a vanished listener or group is skipped."""
    keys: dict[tuple[str, str], set[str]] = {}
    for op, lname, gname, sender in ops:
        listener = _find_listener(state, lname)
        group = _find_group(listener, gname) if listener else None
        if group is None:
            continue
        hosts: list[str] = group["hosts"]
        present = keys.get((lname, gname))
        if present is None:
            present = keys[(lname, gname)] = {sender_key(h) for h in hosts}
        key = sender_key(sender)
        if op == "add" and key not in present:
            hosts.append(sender)
            present.add(key)
        elif op == "del" and key in present:
            idx = _index_of(hosts, sender)
            if idx is not None:
                hosts.pop(idx)
                present.discard(key)  # keys are unique within a group


def _index_of(hosts: list[str], text: str) -> int | None:
    """Index of ``text`` in ``hosts``: exact text first, then case-insensitively for host names."""
    with contextlib.suppress(ValueError):
        return hosts.index(text)
    if sender_kind(text) in _HOSTNAME_KINDS:
        low = text.lower()
        return next((i for i, h in enumerate(hosts) if h.lower() == low), None)
    return None


def _last_session(log_path: Path) -> int:
    """The last session number in an existing command log (so numbers keep growing across restarts)."""
    try:
        with open(log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - (1 << 20)))
            tail = f.read()
    except OSError:
        return 0
    for raw in reversed(tail.splitlines()):
        with contextlib.suppress(ValueError, AttributeError, TypeError, KeyError):
            return int(json.loads(raw)["session"])
    return 0


def _choose(items: list[dict[str, Any]], answer: str, *, ignore_case: bool) -> dict[str, Any] | None:
    """A list item by its 1-based number or its name."""
    if _DIGITS_RE.fullmatch(answer):
        n = int(answer)
        return items[n - 1] if 1 <= n <= len(items) else None
    found = next((x for x in items if x["name"] == answer), None)
    if found is None and ignore_case:
        found = next((x for x in items if x["name"].lower() == answer.lower()), None)
    return found


def _policy_line(group: dict[str, Any]) -> str:
    return "%s (%s)" % (group["policy"], group["comment"]) if group.get("comment") else group["policy"]


def group_text(group: dict[str, Any]) -> list[str]:
    """One sender group in the HAT text format."""
    head = CATCH_ALL if group["name"] == CATCH_ALL else group["name"] + ":"
    return [head, *("    " + h for h in group["hosts"]), "    " + _policy_line(group)]


def hat_text(listener: dict[str, Any]) -> list[str]:
    """The whole HAT of a listener in the HAT text format (policies, then sender groups in table order)."""
    lines: list[str] = []
    for policy in LISTENER_POLICIES.get(listener["type"], []):
        lines += [policy, *POLICY_TEXT[policy], ""]
    for group in listener["sender_groups"]:
        lines += [*group_text(group), ""]
    return lines


DEFAULT_POLICY_PARAMETERS = [
    "", "Default Policy Parameters", "==========================", "Maximum Message Size: 20M",
    "Maximum Number Of Concurrent Connections From A Single IP: 10", "Maximum Number Of Messages Per Connection: 10",
    "Maximum Number Of Recipients Per Message: 50", "Directory Harvest Attack Prevention: Enabled",
    "Maximum Number Of Invalid Recipients Per Hour: 25", "Maximum Number Of Recipients Per Hour: Disabled",
    "Use SenderBase for Flow Control: Yes", "Spam Detection Enabled: Yes", "Virus Detection Enabled: Yes",
    "Allow TLS Connections: No",
]
LISTENERCONFIG_MENU = ["", "Choose the operation you want to perform:", "- NEW - Create a new listener.",
                       "- EDIT - Modify a listener.", "- DELETE - Remove a listener.",
                       "- SETUP - Change global settings."]
LISTENER_MENU = [
    "", "Choose the operation you want to perform:", "- NAME - Change the name of the listener.",
    "- INTERFACE - Change the interface.", "- CERTIFICATE - Choose the certificate.",
    "- LIMITS - Change the injection limits.", "- SETUP - Configure general options.",
    "- HOSTACCESS - Modify the Host Access Table.", "- RCPTACCESS - Modify the Recipient Access Table.",
    "- BOUNCECONFIG - Choose the bounce profile to use for messages injected on this listener.",
    "- MASQUERADE - Configure the Domain Masquerading Table.", "- DOMAINMAP - Configure domain mappings.",
]
HAT_MENU = [
    "", "Choose the operation you want to perform:", "- NEW - Create a new entry.", "- EDIT - Modify an entry.",
    "- DELETE - Remove an entry.", "- MOVE - Move an entry.", "- DEFAULT - Set the defaults.",
    "- PRINT - Display the table.", "- IMPORT - Import a table from a file.", "- EXPORT - Export the table to a file.",
    "- RESET - Remove senders and set policies to system default.",
]
GROUP_MENU = [
    "", "Choose the operation you want to perform:", "- NEW - Add a new host.", "- DELETE - Remove a host.",
    "- MOVE - Reorder the hosts.", "- POLICY - Change the policy settings and options.",
    "- PRINT - Display the current definition.", "- RENAME - Rename this sender group.",
]
NEW_HELP = [
    "", "Enter the senders to add to this sender group. A sender group entry can be any of the following:",
    "- an IP address such as 10.1.1.1 or 2001:db8::1", "- a CIDR address such as 10.1.1.0/24 or 2001:db8::/32",
    "- an IP range such as 10.1.1.10-20, 10.1.1-5 or 2001:db8::2-2001:db8::10", "- an IP subnet such as 10.2.3.",
    "- a hostname such as crm.example.com", "- a partial hostname such as .example.com",
    "- a range of SenderBase Reputation Scores such as SBRS[7.5:10.0]",
    "- a SenderBase Network Owner ID such as SBO:12345",
    "- a remote blacklist query such as dnslist[query.blacklist.example]", "Separate multiple hosts with commas",
]


def _options(menu: list[str]) -> set[str]:
    return {x[2:].split(" - ", 1)[0] for x in menu if x.startswith("- ")}


class Session:
    """One SSH shell session: a private pending copy of the state plus the pending operations."""

    def __init__(self, appliance: Appliance, process: asyncssh.SSHServerProcess[str], number: int,
                 user: str) -> None:
        self.appliance = appliance
        self.process = process
        self.number = number
        self.user = user
        self.own = read_state(appliance.state_path)
        self.cluster: dict[str, Any] | None = self.own.get("cluster")
        self.hostname = str(self.own.get("hostname") or appliance.name)
        # the configuration mode: a clustered machine logs in at the cluster level (User Guide, clusters chapter)
        self.mode = ("cluster", self.cluster["name"]) if self.cluster else ("standalone", self.hostname)
        self.state = effective_state(appliance.state_path)
        self.ops: list[tuple[str, str, str, str]] = []
        self._out: list[str] = []
        self.pty = bool(process.get_terminal_type())

    # -- I/O -------------------------------------------------------------------------------------------------
    def say(self, *lines: str) -> None:
        if lines:
            self._out.append("\r\n".join(lines) + "\r\n")

    async def flush(self) -> None:
        if self._out:
            text = "".join(self._out)
            self._out.clear()
            self.process.stdout.write(text)
            await self.process.stdout.drain()

    async def ask(self, prompt: str) -> str:
        """Print the pending output and ``prompt`` (one write), read one line, log it; returns it stripped."""
        delay = self.appliance.faults().get("delay_ms")
        if isinstance(delay, int | float) and delay > 0:
            await asyncio.sleep(delay / 1000)
        await self._paged()
        self._out.append(prompt)
        await self.flush()
        while True:
            try:
                line = await self.process.stdin.readline()
            except (asyncssh.TerminalSizeChanged, asyncssh.BreakReceived, asyncssh.SignalReceived):
                continue
            break
        if not line.endswith("\n"):
            raise _Closed
        line = line.rstrip("\r\n")
        self.appliance.log(self.number, self.user, line)
        # a PTY echoes what is typed; without one the answer still starts on a new line, where the echo would end
        self._out.append(line + "\r\n" if self.pty else "\r\n")
        return line.strip()

    async def _paged(self) -> None:
        """Write the pending output a page at a time: after PAGER_LINES lines, ``-Press Any Key For More-`` and
        wait for one key; then hide it with ``\\r`` + spaces + ``\\r`` (Netshot Cisco_AsyncOS.js: the pager cannot
        be disabled; the comment above ``const CLI``)."""
        if not self.pty:
            return  # without a PTY: not confirmed whether the appliance pages; the simulator does not
        lines = "".join(self._out).split("\r\n")
        page = int(self.own.get("pager_lines") or PAGER_LINES)
        if len(lines) <= page + 1:
            return
        self._out.clear()
        while len(lines) > page + 1:
            chunk, lines = lines[:page], lines[page:]
            self.process.stdout.write("\r\n".join(chunk) + "\r\n" + PAGER)
            await self.process.stdout.drain()
            key = await self.process.stdin.read(1)
            if not key:
                raise _Closed
            self.process.stdout.write("\r" + " " * len(PAGER) + "\r")
        self._out.append("\r\n".join(lines))

    async def yes_no(self, question: str) -> bool:
        while True:
            answer = (await self.ask(question + " [Y]> ")).upper()
            if answer in ("", "Y", "YES"):
                return True
            if answer in ("N", "NO"):
                return False

    # -- top level -------------------------------------------------------------------------------------------
    def prompt(self) -> str:
        """``host> `` or ``(Cluster NAME)> `` / ``(Group NAME)> `` / ``(Machine HOST)> `` (Netshot
        Cisco_AsyncOS.js, CLI.oper.prompt; the Group form is not confirmed)."""
        level, name = self.mode
        return "%s> " % name if level == "standalone" else "(%s %s)> " % (level.capitalize(), name)

    def banner(self) -> list[str]:
        peer = self.process.get_extra_info("peername") or ("127.0.0.1", 0)
        now = _now()
        version, _sep, build = str(self.own.get("version", VERSION)).partition("-")
        model = self.own.get("model", MODEL)
        return ["Last login: %s from %s" % (_cli_time(now), peer[0]),
                "Copyright (c) 2001-%d, Cisco Systems, Inc. and/or Cisco affiliates. All rights reserved." % now.year,
                "", "AsyncOS %s for Cisco %s build %s (SIMULATOR)" % (version, model, build or "0"), "",
                "Welcome to the Cisco %s Email Security Virtual Appliance" % model]

    async def run(self) -> None:
        self.say(*self.banner())
        while True:
            words = (await self.ask(self.prompt())).split()
            command = words[0].lower() if words else ""
            if not command:
                continue
            if command == "listenerconfig":
                if await self.right_mode("listenerconfig"):
                    await self.listenerconfig()
            elif command == "version":
                self.version()
            elif command == "clustermode":
                await self.clustermode()
            elif command == "commit":
                await self.commit()
            elif command == "clear":
                await self.clear()
            elif command in ("exit", "quit"):
                if self.ops:
                    self.say("Uncommitted changes were discarded.")
                await self.flush()
                raise _Closed
            else:
                self.say("Unknown command or missing feature key: %s" % words[0])

    def version(self) -> None:
        """``version`` (the lines Netshot's snapshot() parses: Model, Version, Serial #, CPUs, Memory)."""
        model = self.own.get("model", MODEL)
        self.say("", "Current Version", "===============",
                 "Product: Cisco %s Email Security Virtual Appliance (SIMULATOR)" % model, "Model: %s" % model,
                 "Version: %s" % self.own.get("version", VERSION), "Build Date: 2026-01-15",
                 "Install Date: 2026-11-22 08:00:00", "Serial #: 42A1B2C3D4E5-SIM%04d" % self.appliance.port,
                 "BIOS: SIMULATOR", "CPUs: 8 expected, 8 allocated", "Memory: 16384 MB expected, 16384 MB allocated",
                 "Hard disk: 500 GB, or more", "RAID: NA", "RAID Status: Unknown", "RAID Type: NA", "BMC: NA")

    async def clustermode(self) -> None:
        """``clustermode``: choose the configuration mode, then the group or the machine (Cisco
        testlib/.../cli/ctor/clustermode.py: "Choose the configuration", "Choose the group to configure.",
        "Choose a machine."; the exact list layout is ours)."""
        if not self.cluster:
            self.say("This command is only available on cluster system.")
            return
        if self.ops:
            self.say("Error: commit or clear the pending changes before changing the mode.")
            return
        self.say("", "Choose the configuration mode.", "1. Cluster: %s" % self.cluster["name"],
                 "2. Group", "3. Machine")
        choice = await self.ask("[1]> ") or "1"
        if choice == "1":
            self.mode = ("cluster", self.cluster["name"])
            return
        if choice == "2":
            names, level = [self.cluster.get("group", "Main_Group")], "group"
            question = "Choose the group to configure."
        elif choice == "3":
            names, question, level = list(self.cluster.get("machines") or []), "Choose a machine.", "machine"
        else:
            self.say("Error: Invalid choice.")
            return
        self.say("", question, *("%d. %s" % (i, n) for i, n in enumerate(names, 1)))
        answer = await self.ask("[1]> ") or "1"
        picked = names[int(answer) - 1] if _DIGITS_RE.fullmatch(answer) and 1 <= int(answer) <= len(names) else None
        if picked is None:
            self.say("Error: Invalid choice.")
            return
        self.mode = (level, picked)

    async def right_mode(self, command: str) -> bool:
        """A clustered machine asks which mode to use when ``command`` is not configured at the current level (User
        Guide, clusters chapter: "a warning message and the opportunity to switch"; the wording is ours)."""
        if not self.cluster or self.mode[0] == self.cluster["level"]:
            return True
        level = self.cluster["level"]
        self.say("", "The command %s is configured in %s mode; you are in %s mode (%s)." % (
            command, level, self.mode[0], self.mode[1]), "Choose one of the following options:",
            "1. Switch to %s mode and edit the settings there." % level,
            "2. Start a new, empty configuration in the current mode.",
            "3. Copy the settings from %s mode to the current mode." % level)
        answer = await self.ask("[1]> ") or "1"
        if answer != "1":
            self.say(NOT_AVAILABLE)
            return False
        name = self.cluster["name"] if level == "cluster" else (
            self.cluster.get("group", "Main_Group") if level == "group" else self.hostname)
        self.mode = (level, name)
        return True

    async def commit(self) -> None:
        if not self.ops:
            self.say("There is no data to commit.")
            return
        self.say("", "Please enter some comments describing your changes:")
        comment = await self.ask("[]> ")
        self.say("")
        await self.yes_no("Do you want to save the current configuration for rollback?")
        outcome, result = self.appliance.commit(self.ops, self.user, comment)
        if outcome == "drop":
            self.process.get_extra_info("connection").abort()
            raise _Closed
        if outcome == "fail":
            self.say("Error: The changes could not be committed: %s" % result)
            return
        assert isinstance(result, dict)
        self.state, self.ops = result, []
        self.say("Changes committed: %s GMT" % _cli_time(_now()))

    async def clear(self) -> None:
        if not self.ops:
            self.say("There are no changes to clear.")
            return
        self.say("")
        if await self.yes_no("Are you sure you want to clear all changes since the last commit?"):
            self.ops = []
            self.state = effective_state(self.appliance.state_path)
            self.say("Changes cleared: %s GMT" % _cli_time(_now()))

    # -- listenerconfig --------------------------------------------------------------------------------------
    async def listenerconfig(self) -> None:
        while True:
            listeners = self.state["listeners"]
            self.say("", "Currently configured listeners:",
                     *("%d. %s (on %s, %s) SMTP TCP Port %s %s" % (i, x["name"], x["interface"], x["ip"], x["port"],
                                                                   x["type"]) for i, x in enumerate(listeners, 1)),
                     *LISTENERCONFIG_MENU)
            choice = (await self.ask("[]> ")).upper()
            if not choice:
                return
            if choice == "EDIT":
                self.say("", "Enter the name or number of the listener you wish to edit.")
                answer = await self.ask("[]> ")
                if not answer:
                    continue
                listener = _choose(listeners, answer, ignore_case=True)
                if listener is None:
                    self.say('Error: No listener named "%s".' % answer)
                    continue
                await self.listener_menu(listener)
            elif choice in _options(LISTENERCONFIG_MENU):
                self.say(NOT_AVAILABLE)

    async def listener_menu(self, listener: dict[str, Any]) -> None:
        while True:
            self.say("", "Name: %s" % listener["name"], "Type: %s" % listener["type"],
                     "Interface: %s (%s/24) TCP Port %s" % (listener["interface"], listener["ip"], listener["port"]),
                     "Protocol: SMTP", "Default Domain:", "Max Concurrency: 1000 (TCP Queue: 50)",
                     "Domain Map: Disabled", "TLS: No", "SMTP Authentication: Disabled", "Bounce Profile: Default",
                     "Use SenderBase For Reputation Filters and IP Profiling: Yes", "Footer: None", "Heading: None",
                     "SMTP Call-Ahead: Disabled", "LDAP: Off", *LISTENER_MENU)
            choice = (await self.ask("[]> ")).upper()
            if not choice:
                return
            if choice == "HOSTACCESS":
                await self.hostaccess(listener)
            elif choice in _options(LISTENER_MENU):
                self.say(NOT_AVAILABLE)

    async def hostaccess(self, listener: dict[str, Any]) -> None:
        while True:
            groups = listener["sender_groups"]
            self.say(*DEFAULT_POLICY_PARAMETERS, "",
                     "There are currently %d policies defined." % len(LISTENER_POLICIES.get(listener["type"], [])),
                     "There are currently %d sender groups." % len(groups), *HAT_MENU)
            choice = (await self.ask("[]> ")).upper()
            if not choice:
                return
            if choice == "PRINT":
                self.say(*hat_text(listener))
            elif choice == "EDIT":
                self.say("", "1. Edit Sender Group", "2. Edit Policy")
                which = await self.ask("[1]> ")
                if which == "2":
                    self.say(NOT_AVAILABLE)
                elif which in ("", "1"):
                    await self.choose_group(listener)
            elif choice in _options(HAT_MENU):
                self.say(NOT_AVAILABLE)

    async def choose_group(self, listener: dict[str, Any]) -> None:
        groups = listener["sender_groups"]
        lines = []
        for i, g in enumerate(groups, 1):
            name = "(no name, first host = ALL)" if g["name"] == CATCH_ALL else g["name"]
            lines.append("%d. %s (%s)" % (i, name, g["comment"]) if g.get("comment") else "%d. %s" % (i, name))
        self.say("", "Currently configured HAT sender groups:", *lines, "",
                 "Enter the sender group number or name you wish to edit.")
        answer = await self.ask("[]> ")
        if not answer:
            return
        group = _choose(groups, answer, ignore_case=False)
        if group is None:
            self.say('Error: No sender group named "%s".' % answer)
            return
        await self.group_menu(listener, group)

    # -- one sender group ------------------------------------------------------------------------------------
    async def group_menu(self, listener: dict[str, Any], group: dict[str, Any]) -> None:
        while True:
            self.say(*GROUP_MENU)
            choice = (await self.ask("[]> ")).upper()
            if not choice:
                return
            if choice == "NEW" and group["name"] != CATCH_ALL:
                await self.new_senders(listener, group)
            elif choice == "DELETE":
                await self.delete_sender(listener, group)
            elif choice == "PRINT":
                self.say(*group_text(group))
            elif choice in _options(GROUP_MENU):
                self.say(NOT_AVAILABLE)

    async def new_senders(self, listener: dict[str, Any], group: dict[str, Any]) -> None:
        self.say(*NEW_HELP)
        while True:
            senders = [s.strip() for s in (await self.ask("[]> ")).split(",")]
            senders = [s for s in senders if s]
            if not senders:
                self.say("Error: No senders entered.")
                return
            bad = [s for s in senders if not valid_sender(s)]
            if not bad:
                break
            self.say(*('Error: "%s" is not a valid sender.' % s for s in bad))
        present = {sender_key(h) for h in group["hosts"]}
        added: list[str] = []
        discarded: list[str] = []
        for sender in senders:
            key = sender_key(sender)
            if key in present:
                if sender not in discarded:
                    discarded.append(sender)
                continue
            present.add(key)
            added.append(sender)
        if discarded:
            self.say("The following senders are already in this sender group and were not added: %s"
                     % ", ".join(discarded))
        group["hosts"].extend(added)
        self.ops.extend(("add", listener["name"], group["name"], s) for s in added)
        self.say("", "Enter a comment for these senders (optional).")
        await self.ask("[]> ")  # the simulator does not keep sender comments

    async def delete_sender(self, listener: dict[str, Any], group: dict[str, Any]) -> None:
        hosts: list[str] = group["hosts"]
        if not hosts:
            self.say("There are no senders in this sender group.")
            return
        self.say("", "Enter the sender to delete, or its number:", *("%d. %s" % (i, h) for i, h in enumerate(hosts, 1)))
        answer = await self.ask("[]> ")
        if not answer:
            return
        idx = _index_of(hosts, answer)
        if idx is None and _DIGITS_RE.fullmatch(answer) and 1 <= int(answer) <= len(hosts):
            idx = int(answer) - 1
        if idx is None:
            self.say('Error: "%s" is not in this sender group.' % answer)
            return
        sender = hosts.pop(idx)
        self.ops.append(("del", listener["name"], group["name"], sender))


class _Server(asyncssh.SSHServer):
    """Password authentication only (sha256 digests); no forwarding of any kind."""

    def __init__(self, users: dict[str, str], live: set[asyncssh.SSHServerConnection]) -> None:
        self._users = users
        self._live = live
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._live.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._live.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def kbdint_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return False

    def validate_password(self, username: str, password: str) -> bool:
        digest = hashlib.sha256(password.encode("utf-8")).hexdigest()
        expected = self._users.get(username)
        return hmac.compare_digest(digest, expected if expected is not None else "!" * 64)

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> bool:
        return False

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        return False


async def _handle(appliance: Appliance, process: asyncssh.SSHServerProcess[str]) -> None:
    if process.command is not None or process.subsystem:
        process.stderr.write("The ESA simulator offers an interactive shell only.\r\n")
        process.exit(1)
        return
    session = Session(appliance, process, appliance.next_session(), process.get_extra_info("username") or "")
    try:
        await session.run()
    except (_Closed, asyncssh.Error, OSError):
        pass
    with contextlib.suppress(OSError, asyncssh.Error):
        process.exit(0)


def load_config(path: Path) -> dict[str, Any]:
    config = json.loads(path.read_text(encoding="utf-8"))
    _require_loopback(str(config.get("host", "")))
    if not config.get("users"):
        raise ValueError("%s: no users" % path)
    if not config.get("appliances"):
        raise ValueError("%s: no appliances" % path)
    return config


async def serve(config_path: Path, pid_file: Path | None = None) -> None:
    """Serve every appliance of the config until SIGTERM/SIGINT."""
    config = load_config(config_path)
    host = config["host"]
    key = asyncssh.read_private_key(config["host_key"])
    users = {name: str(u["password_sha256"]).lower() for name, u in config["users"].items()}
    servers: list[asyncssh.SSHAcceptor] = []
    live: set[asyncssh.SSHServerConnection] = set()
    try:
        for app in config["appliances"]:
            appliance = Appliance(app["name"], int(app["port"]), Path(app["state"]), Path(app["log"]))
            read_state(appliance.state_path)  # fail early on a missing or broken state file
            servers.append(await asyncssh.create_server(
                functools.partial(_Server, users, live), host, appliance.port, server_host_keys=[key],
                process_factory=functools.partial(_handle, appliance), encoding="utf-8", line_editor=False,
                allow_scp=False, agent_forwarding=False, x11_forwarding=False, reuse_address=True))
            print("esasim: %s listening on %s:%d" % (appliance.name, host, appliance.port), file=sys.stderr)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if pid_file is not None:
            _write_private(pid_file, b"%d\n" % os.getpid())
        await stop.wait()
    finally:
        for server in servers:
            server.close()
        for conn in list(live):
            conn.close()
        for server in servers:
            with contextlib.suppress(OSError, asyncssh.Error, asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 5)
        if pid_file is not None:
            with contextlib.suppress(OSError):
                pid_file.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="esasim.py", description="Cisco ESA (AsyncOS) CLI SIMULATOR over SSH - "
                                     "sandbox and tests only")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="serve the appliances of a config file made by seed_esa")
    p_serve.add_argument("--config", required=True, type=Path)
    p_serve.add_argument("--pid-file", type=Path)
    p_seed = sub.add_parser("seed", help="seed a folder (password from the environment variable ESASIM_PASSWORD)")
    p_seed.add_argument("directory", type=Path)
    p_seed.add_argument("--appliance", action="append", required=True, metavar="NAME=PORT[=HOSTNAME]")
    p_seed.add_argument("--username", default="admin")
    args = parser.parse_args(argv)
    try:
        if args.command == "seed":
            password = os.environ.get("ESASIM_PASSWORD", "")
            apps = []
            for spec in args.appliance:
                name, _s, rest = spec.partition("=")
                port, _s, hostname = rest.partition("=")
                apps.append({"name": name, "port": int(port), "hostname": hostname or name})
            print(seed_esa(args.directory, apps, username=args.username, password=password))
            return 0
        asyncio.run(serve(args.config, args.pid_file))
        return 0
    except (OSError, ValueError, KeyError, asyncssh.Error) as e:
        print("esasim: error: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
