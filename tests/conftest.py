"""Shared fixtures: a scratch ANSIBLE_HOME and evidence folder for every test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Collection order for pytest-xdist: the longest tests first (molecule scenarios, then the integration tests), so
#: that the workers never wait at the end for one long test that started last.
_ORDER = ("tests/molecule/", "tests/integration/", "tests/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        rel = Path(str(item.fspath)).resolve().relative_to(ROOT).as_posix()
        return next(i for i, prefix in enumerate(_ORDER) if rel.startswith(prefix) or prefix == "tests/")

    items.sort(key=rank)  # stable: the order within each part is kept


@pytest.fixture(autouse=True)
def _scratch_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes evidence into its own folder and never into ~/.ansible."""
    monkeypatch.setenv("OPS_EVIDENCE_DIR", str(tmp_path / "evidence"))
    monkeypatch.setenv("ANSIBLE_HOME", str(tmp_path / "ansible-home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OPS_SYSLOG", "off")  # no test writes to the machine's syslog (tests/unit/test_syslog_sink.py)
    for name in ("SSH_AUTH_SOCK", "OPS_SIGNING_KEY"):  # approvals sign with the keys a test gives
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "home").mkdir()
    # the store as `ops-driver evidence init` starts it under the CLI's umask 027: a folder, an empty ledger
    (tmp_path / "evidence").mkdir(mode=0o750)
    (tmp_path / "evidence" / "ledger.jsonl").touch(mode=0o640)
    return tmp_path / "evidence"


@pytest.fixture()
def signers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Approvers' keys (tests/support/signers.py) in a scratch allowed-signers file read as policy/allowed_signers."""
    from ops_driver.evidence import signing
    from tests.support.signers import Signers

    found = Signers(tmp_path / "signers")
    monkeypatch.setattr(signing, "policy_signers_path", lambda: found.path)
    return found
