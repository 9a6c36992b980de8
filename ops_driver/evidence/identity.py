"""Who is acting, and when two names are one person.

- :func:`normalise` / :func:`same_person`: names are compared after Unicode NFKC (full-width ``ｔａｎａｋａ`` is
  ``tanaka``, the ideographic space U+3000 a space), case folding (``Tanaka`` is ``tanaka``), trimming and
  collapsing runs of white space (`` tanaka `` is ``tanaka``). Every comparison of people (requester, operator,
  approvers) goes through them; the names are *recorded* as given.
- :func:`acting`: the operator of a plan or an apply is the OS account that runs the command, never a name typed
  by the operator: ``$SUDO_USER`` when the command runs through ``sudo`` (a ``sudo`` process running as root is
  among its ancestors, or the command runs as root), else the login name of the effective user (``pwd``). A
  declared name (``--operator`` / ``$OPS_OPERATOR``) is accepted only in the sandbox environment and is recorded
  as declared; anywhere else it is refused (exit 4). An AWX job's operator is its ``launched_by`` (source ``awx``,
  set by the import, not here).

Reference: sudo(8) "ENVIRONMENT" — sudo sets ``SUDO_USER`` (the login name of the user who invoked sudo) and
``SUDO_UID`` in the command's environment; proc(5) — ``/proc/<pid>/stat`` (field 4: the parent's pid),
``/proc/<pid>/comm`` (the command name) and ``/proc/<pid>/status`` (``Uid:`` real, effective, …).
"""

from __future__ import annotations

import os
import pwd
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ops_driver.errors import InvalidInput, PolicyRefused

OPERATOR_ENV = "OPS_OPERATOR"
#: The only environment where a declared operator is accepted (the demo and the tests act as several people).
DECLARING_ENVIRONMENT = "sandbox"
SYSTEM, DECLARED, AWX = "system", "declared", "awx"
SOURCES = (SYSTEM, DECLARED, AWX)
_SPACE = re.compile(r"\s+")
_MAX_ANCESTORS = 32


def normalise(name: str) -> str:
    """The comparison form of a person's name: NFKC, case folded, trimmed, inner white space collapsed to one
    space. ``normalise("ｔａｎａｋａ") == normalise(" Tanaka ") == "tanaka"``. Never shown or recorded."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", name).casefold()).strip()


def same_person(a: str | None, b: str | None) -> bool:
    """Whether two names are one person (:func:`normalise`); an empty or missing name is nobody."""
    if not a or not b:
        return False
    na = normalise(a)
    return bool(na) and na == normalise(b)


def among(name: str, names: Iterable[str | None]) -> bool:
    """Whether ``name`` is one of ``names`` (:func:`same_person`)."""
    return any(same_person(name, other) for other in names)


def distinct(names: Iterable[str]) -> list[str]:
    """``names`` without repeats of one person (:func:`same_person`), in order, each as first written."""
    seen: dict[str, str] = {}
    for n in names:
        seen.setdefault(normalise(n), n)
    return [n for k, n in seen.items() if k]


@dataclass(frozen=True)
class Actor:
    """Who runs a command: ``name`` (recorded as ``operator``), ``source`` (``operator_source``: ``system`` — the
    OS account —, ``declared`` — ``--operator`` / ``$OPS_OPERATOR`` in the sandbox — or ``awx`` — an imported job's
    ``launched_by``) and ``account``, the OS account that ran the command (``os_account``; for ``awx``, the account
    that imported it)."""

    name: str
    source: str
    account: str

    def manifest(self) -> dict[str, str]:
        """The manifest keys: ``operator``, ``operator_source``, ``os_account``."""
        return {"operator": self.name, "operator_source": self.source, "os_account": self.account}


def _proc_parent(proc: Path, pid: int) -> int | None:
    try:
        stat = (proc / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # "pid (comm) state ppid …": comm may hold spaces and parentheses; the last ")" ends it
    fields = stat[stat.rfind(")") + 2:].split()
    try:
        return int(fields[1])
    except (IndexError, ValueError):
        return None


def _runs_as_root_sudo(proc: Path, pid: int) -> bool:
    try:
        comm = (proc / str(pid) / "comm").read_text(encoding="utf-8", errors="replace").strip()
        status = (proc / str(pid) / "status").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    uid = next((line.split()[1:3] for line in status.splitlines() if line.startswith("Uid:")), [])
    # sudo is set-user-ID root: its effective uid is 0; an ordinary process merely named "sudo" is not
    return comm == "sudo" and len(uid) == 2 and uid[1] == "0"


def under_sudo(pid: int | None = None, proc: Path = Path("/proc")) -> bool:
    """Whether a ``sudo`` process running as root is an ancestor of ``pid`` (default: this process), read from
    ``/proc`` (proc(5)); False where ``/proc`` cannot be read."""
    current = os.getpid() if pid is None else pid
    for _ in range(_MAX_ANCESTORS):
        parent = _proc_parent(proc, current)
        if parent is None or parent <= 0:
            return False
        if _runs_as_root_sudo(proc, parent):
            return True
        if parent == 1:
            return False
        current = parent
    return False


def account() -> str:
    """The login name of the effective user (``pwd``; the numeric uid when it has no entry)."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def system_operator(environ: Mapping[str, str] | None = None, *, euid: int | None = None,
                    sudo: bool | None = None) -> str:
    """The operator the system vouches for: ``$SUDO_USER`` when the command runs through sudo — ``sudo`` is
    true (default :func:`under_sudo`) or the command runs as root (``euid`` 0) — and ``$SUDO_UID`` is that
    account's uid; else the effective user's login name (:func:`account`). A ``SUDO_USER`` set by hand in an
    ordinary shell is ignored: nothing that the caller can type decides who acts."""
    env = os.environ if environ is None else environ
    euid = os.geteuid() if euid is None else euid
    sudo_user = env.get("SUDO_USER", "").strip()
    if sudo_user and sudo_user != "root" and (euid == 0 or (under_sudo() if sudo is None else sudo)):
        try:
            entry = pwd.getpwnam(sudo_user)
        except KeyError:
            entry = None
        if entry is not None and env.get("SUDO_UID", str(entry.pw_uid)) == str(entry.pw_uid):
            return sudo_user
    return account()


def acting(environment: str, declared: str | None = None, environ: Mapping[str, str] | None = None) -> Actor:
    """The operator of a run in ``environment``: the system's (:func:`system_operator`), or in the sandbox a
    declared name (``declared``, i.e. ``--operator``, else ``$OPS_OPERATOR``), recorded as declared.

    Raises InvalidInput (exit 2) for an empty declared name; PolicyRefused (exit 4) for a declared name outside
    the sandbox environment (nothing runs: unset ``OPS_OPERATOR`` / drop ``--operator``).
    """
    env = os.environ if environ is None else environ
    me = account()
    where = "--operator" if declared is not None else OPERATOR_ENV
    value = declared if declared is not None else env.get(OPERATOR_ENV)
    if value is None:
        return Actor(name=system_operator(env), source=SYSTEM, account=me)
    name = value.strip()
    if not name:
        raise InvalidInput(f"{where}: the operator's name is empty; drop it (the operator is the OS account that "
                           "runs the command)")
    if environment != DECLARING_ENVIRONMENT:
        raise PolicyRefused(f"{where} ({name!r}): a declared operator is accepted only in the "
                            f"{DECLARING_ENVIRONMENT} environment; in {environment} the operator is the OS account "
                            f"that runs the command ({system_operator(env)}): drop {where} and run as yourself "
                            "(through sudo if the tool runs under a service account)")
    return Actor(name=name, source=DECLARED, account=me)
