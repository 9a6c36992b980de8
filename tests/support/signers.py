"""Approvers' SSH keys for tests: real ed25519 keys made with ssh-keygen, listed in a scratch allowed-signers
file that stands in for ``policy/allowed_signers`` (the ``signers`` fixture of tests/conftest.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ops_driver.evidence import signing


class Signers:
    """Keys by name in ``folder``; :attr:`path` is the allowed-signers file listing the ones :meth:`key` listed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "allowed_signers"
        self.path.write_text("# scratch allowed signers of a test\n", encoding="utf-8")

    def key(self, name: str, listed: bool = True, principal: str | None = None) -> Path:
        """The private key of ``name`` (made once); ``listed``: add it to :attr:`path` as ``principal`` (default
        ``name``)."""
        key = self.folder / f"key-{name}"
        if not key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
        if listed:
            kind, blob = key.with_name(key.name + ".pub").read_text(encoding="utf-8").split()[:2]
            line = f'{principal or name} namespaces="{signing.NAMESPACE}" {kind} {blob}\n'
            if line not in self.path.read_text(encoding="utf-8"):
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(line)
        return key
