"""Approvals as SSH signatures (issue #24, item 4), made and checked with OpenSSH's ``ssh-keygen -Y``.

An approval record ``approvals/<run>/<id>.json`` is signed, exactly as its bytes are on disk, into
``<id>.json.sig`` in the namespace :data:`NAMESPACE`::

    ssh-keygen -Y sign -n ops-driver-approval -f KEY <id>.json

and it counts only when this succeeds (the auditor's offline check, nothing else needed than OpenSSH)::

    ssh-keygen -Y verify -f policy/allowed_signers -I <approver> -n ops-driver-approval -s <id>.json.sig < <id>.json

``policy/allowed_signers`` is the reviewed list of who may approve, in the format git uses for
``gpg.ssh.allowedSignersFile`` (ssh-keygen(1), "ALLOWED SIGNERS": ``principals [options] keytype base64-key``).
The approver is the principal that file gives the signing key (``ssh-keygen -Y find-principals``), never a typed
name. Keys come from ``--key FILE`` / ``$OPS_SIGNING_KEY`` (a private key, or a public key whose private half is in
the ssh-agent), else from the ssh-agent (``ssh-add -L``: the first key the allowed-signers file names).

Sandbox only: ``approve --by NAME`` signs with a demo key made on demand for NAME (ed25519, no passphrase, 0600) in
``$OPS_EVIDENCE_DIR/.sandbox-signers/`` and added to that folder's own ``allowed_signers``, which is read for the
sandbox environment (beside ``policy/allowed_signers``) and for no other environment.

Errors: :class:`~ops_driver.errors.InvalidInput` (exit 2) for a missing ``ssh-keygen``, an unreadable key, a bad
demo name; :class:`~ops_driver.errors.PolicyRefused` (exit 4) for a key that no allowed-signers file names, a
``--by`` that is not the key's principal, ``--by`` outside the sandbox without a key.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ops_driver.errors import InvalidInput, PolicyRefused
from ops_driver.evidence import identity
from ops_driver.paths import project_root

NAMESPACE = "ops-driver-approval"
KEY_ENV = "OPS_SIGNING_KEY"
SANDBOX = "sandbox"
SANDBOX_SIGNERS = ".sandbox-signers"
SIG_SUFFIX = ".sig"
#: A sandbox demo principal: one word (the allowed-signers principals field is a comma-separated pattern list,
#: so no space, comma, quote or pattern character).
_DEMO_NAME = re.compile(r"^[^\s,\"'*?!\\]{1,64}$")
_TIMEOUT_S = 60


@dataclass(frozen=True)
class Signer:
    """The key an approval is signed with and whose principal approves. ``source``: ``sandbox demo key``,
    ``key file`` or ``ssh-agent``; ``key``: the key file (None for a demo key not made yet and for the agent);
    ``agent_pub``: the agent's public key line."""

    principal: str
    source: str
    key: Path | None
    agent_pub: str | None = None


def ssh_keygen() -> str:
    """The ``ssh-keygen`` executable; InvalidInput when OpenSSH's client is not installed."""
    found = shutil.which("ssh-keygen")
    if not found:
        raise InvalidInput("ssh-keygen: not found; install OpenSSH's client (Debian: apt-get install openssh-client)")
    return found


def _run(args: list[str], data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([ssh_keygen(), *args], input=data, capture_output=True, timeout=_TIMEOUT_S, check=False)


def policy_signers_path() -> Path:
    """``<project>/policy/allowed_signers``: the reviewed list of approvers' keys."""
    return project_root() / "policy" / "allowed_signers"


def sandbox_signers_dir(base: Path) -> Path:
    return base / SANDBOX_SIGNERS


def signers_files(environment: str | None, base: Path) -> list[Path]:
    """The allowed-signers files that hold for ``environment``: the policy's, and for the sandbox also the sandbox's
    own (existing files only)."""
    files = [policy_signers_path()]
    if environment == SANDBOX:
        files.append(sandbox_signers_dir(base) / "allowed_signers")
    return [f for f in files if f.is_file()]


def sig_path(record: Path) -> Path:
    """``<id>.json`` → ``<id>.json.sig`` (where ``ssh-keygen -Y sign`` writes)."""
    return record.with_name(record.name + SIG_SUFFIX)


def sign(record: Path, key: Path) -> Path:
    """Sign the bytes of ``record`` with ``key`` into ``<record>.sig``; InvalidInput naming the key on failure."""
    out = sig_path(record)
    out.unlink(missing_ok=True)
    r = _run(["-Y", "sign", "-n", NAMESPACE, "-f", str(key), str(record)])
    if r.returncode != 0 or not out.is_file():
        out.unlink(missing_ok=True)
        raise InvalidInput(f"--key {key}: ssh-keygen -Y sign failed: {r.stderr.decode(errors='replace').strip()}")
    return out


_VERIFIED: dict[tuple[str, str, str, tuple[str, ...]], bool] = {}


def verify(payload: bytes, signature: bytes, principal: str, files: list[Path]) -> bool:
    """Whether ``ssh-keygen -Y verify -f FILE -I principal -n ops-driver-approval`` accepts ``signature`` of
    ``payload`` for one of ``files``. Results are remembered per (payload, signature, principal, file contents)."""
    contents = tuple(hashlib.sha256(f.read_bytes()).hexdigest() for f in files)
    key = (hashlib.sha256(payload).hexdigest(), hashlib.sha256(signature).hexdigest(), principal, contents)
    if key in _VERIFIED:
        return _VERIFIED[key]
    ok = False
    with tempfile.TemporaryDirectory(prefix="ops-sig-") as tmp:
        sig = Path(tmp) / "record.sig"
        sig.write_bytes(signature)
        for f in files:
            r = _run(["-Y", "verify", "-f", str(f), "-I", principal, "-n", NAMESPACE, "-s", str(sig)], payload)
            if r.returncode == 0:
                ok = True
                break
    _VERIFIED[key] = ok
    return ok


def principals_of(key: Path, files: list[Path]) -> list[str]:
    """The principals the allowed-signers ``files`` give ``key``: a probe signature made with it, then
    ``ssh-keygen -Y find-principals`` (so the key must be usable: a private key, or a public key in the agent)."""
    with tempfile.TemporaryDirectory(prefix="ops-sig-") as tmp:
        probe = Path(tmp) / "probe"
        probe.write_bytes(b"ops-driver: which principal holds this key\n")
        sign(probe, key)
        found: list[str] = []
        for f in files:
            r = _run(["-Y", "find-principals", "-n", NAMESPACE, "-s", str(sig_path(probe)), "-f", str(f)])
            if r.returncode == 0:
                found += [p for p in r.stdout.decode("utf-8", errors="replace").splitlines() if p.strip()]
    return list(dict.fromkeys(found))


def _agent_keys(tmp: Path) -> list[Path]:
    """The ssh-agent's public keys (``ssh-add -L``) as files in ``tmp``; none without an agent."""
    if not os.environ.get("SSH_AUTH_SOCK") or not shutil.which("ssh-add"):
        return []
    r = subprocess.run(["ssh-add", "-L"], capture_output=True, timeout=_TIMEOUT_S, check=False)
    if r.returncode != 0:
        return []
    out = []
    for n, line in enumerate(r.stdout.decode(errors="replace").splitlines()):
        if line.strip():
            p = tmp / f"agent-{n}.pub"
            p.write_text(line + "\n", encoding="utf-8")
            out.append(p)
    return out


def _demo_key_path(base: Path, principal: str) -> Path:
    slug = re.sub(r"[^a-z0-9_-]", "", principal)[:24] or "name"
    return sandbox_signers_dir(base) / f"{slug}-{hashlib.sha256(principal.encode()).hexdigest()[:12]}"


def demo_principal(name: str) -> str:
    """The sandbox demo principal of ``--by NAME``: :func:`identity.normalise` of it, one word."""
    principal = identity.normalise(name)
    if not _DEMO_NAME.match(principal):
        raise InvalidInput(f"--by {name!r}: a sandbox approver's name is one word without spaces, commas, quotes or "
                           "* ? ! (e.g. reviewer-b)")
    return principal


def demo_key(base: Path, principal: str) -> Path:
    """The sandbox demo key of ``principal`` (made on demand, 0600) listed in the sandbox's allowed_signers."""
    folder = sandbox_signers_dir(base)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = _demo_key_path(base, principal)
    allowed = folder / "allowed_signers"
    fd = os.open(allowed, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # two approvals at once make one key and one line
        if not key.is_file():
            r = _run(["-q", "-t", "ed25519", "-N", "", "-C", f"{principal} (ops-driver sandbox demo key)",
                      "-f", str(key)])
            if r.returncode != 0:
                raise InvalidInput(f"{key}: ssh-keygen could not make a demo key: {r.stderr.decode().strip()}")
        os.chmod(key, 0o600)
        kind, blob = key.with_name(key.name + ".pub").read_text(encoding="utf-8").split()[:2]
        line = f'{principal} namespaces="{NAMESPACE}" {kind} {blob} sandbox demo key\n'
        if line not in Path(allowed).read_text(encoding="utf-8").splitlines(keepends=True):
            os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)
    return key


def signer(environment: str | None, base: Path, by: str | None, key: Path | None) -> Signer:
    """Who approves and with which key (module docstring). Writes nothing (a demo key is made by :func:`demo_key`
    when the approval is written)."""
    if key is None and os.environ.get(KEY_ENV, "").strip():
        key = Path(os.environ[KEY_ENV].strip())
    if environment == SANDBOX and by is not None and key is None:
        return Signer(principal=demo_principal(by), source="sandbox demo key", key=None)
    files = signers_files(environment, base)
    if not files:
        raise PolicyRefused(f"{policy_signers_path()}: no allowed-signers file; the approvers' public keys are "
                            "listed there (reviewed like the policy) before anyone can approve")
    if key is not None:
        if not key.is_file():
            raise InvalidInput(f"--key / {KEY_ENV}: {key}: no such key file")
        candidates, source = [key], "key file"
    else:
        candidates, source = [], "ssh-agent"
    with tempfile.TemporaryDirectory(prefix="ops-agent-") as tmp:
        if key is None:
            candidates = _agent_keys(Path(tmp))
            if not candidates:
                raise PolicyRefused("approve: no signing key: give --key FILE (or $OPS_SIGNING_KEY), or load your key "
                                    "into the ssh-agent" + ("" if environment == SANDBOX else
                                                            "; --by names are accepted in the sandbox only"))
        others: list[str] = []
        for cand in candidates:
            # a principal is a person's name: a wildcard pattern of the file names nobody in particular
            found = [p for p in principals_of(cand, files) if not set(p) & set("*?!")]
            if by is not None:
                others += [p for p in found if not identity.same_person(p, by)]
                found = [p for p in found if identity.same_person(p, by)]
            if not found:
                continue
            if len(found) > 1:
                raise PolicyRefused(f"the signing key is listed for {', '.join(found)}: give --by with one of them")
            return Signer(principal=found[0], source=source, key=cand if source == "key file" else None,
                          agent_pub=None if source == "key file" else cand.read_text(encoding="utf-8"))
    if others:
        raise PolicyRefused(f"--by {by!r}: the signing key belongs to {', '.join(others)} "
                            f"({', '.join(map(str, files))}); the approver is the key's principal")
    raise PolicyRefused(f"the signing key ({source}) is not in {' or '.join(map(str, files))}: only keys listed "
                        "there (by a principal's name, not a pattern) may approve; ask for yours to be added "
                        "through review")


def sign_as(who: Signer, record: Path, base: Path) -> Path:
    """Sign ``record`` as :func:`signer` chose: the demo key (made now if need be), the key file, or the agent."""
    if who.source == "sandbox demo key":
        return sign(record, demo_key(base, who.principal))
    if who.key is not None:
        return sign(record, who.key)
    with tempfile.TemporaryDirectory(prefix="ops-agent-") as tmp:
        pub = Path(tmp) / "agent.pub"
        pub.write_text(who.agent_pub or "", encoding="utf-8")
        return sign(record, pub)
