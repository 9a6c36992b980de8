"""Shared fixtures: a scratch ANSIBLE_HOME and evidence folder for every test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import manifests

ROOT = Path(__file__).resolve().parents[1]

#: Variables of the operator's shell that change what Ansible, ops-driver or boto3 do (issue #27 item 8: with
#: ANSIBLE_VAULT_PASSWORD_FILE set, as the operators' guide says to, the tests' `ansible-vault encrypt` saw two default
#: vault IDs). The suite starts from none of them; what a test needs it sets itself. Kept: how to find the seed
#: documents (tests/unit/driver/test_catalog_seed.py) and whether they are required (.ci/run).
_KEEP = {"OPS_SEEDS_DIR", "OPS_REQUIRE_SEEDS"}
_PREFIXES = ("ANSIBLE_", "OPS_", "AWS_", "MOLECULE_", "BENCH_")


def hermetic_environment() -> list[str]:
    """Remove the shell's ANSIBLE_*/OPS_*/AWS_*/MOLECULE_*/BENCH_* variables from os.environ (this process and the
    pytest-xdist workers and every command the tests start inherit it); ANSIBLE_CONFIG is the project's ansible.cfg
    and ANSIBLE_HOME a folder of the checkout, as the Makefile sets them. Returns the names removed."""
    removed = sorted(k for k in os.environ if k.startswith(_PREFIXES) and k not in _KEEP)
    for name in removed:
        del os.environ[name]
    os.environ["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    os.environ["ANSIBLE_HOME"] = str(ROOT / ".ansible-home")
    return removed


hermetic_environment()
#: Collection order for pytest-xdist: the longest tests first (molecule scenarios, then the integration tests), so
#: that the workers never wait at the end for one long test that started last.
_ORDER = ("tests/molecule/", "tests/integration/", "tests/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        rel = Path(str(item.fspath)).resolve().relative_to(ROOT).as_posix()
        return next(i for i, prefix in enumerate(_ORDER) if rel.startswith(prefix) or prefix == "tests/")

    items.sort(key=rank)  # stable: the order within each part is kept


@pytest.fixture(autouse=True)
def _scratch_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Path]:
    """Every test writes evidence into its own folder and never into ~/.ansible; at its end, every manifest.json of
    a bundle it wrote is checked against the published schema (tests/support/manifests.py), unless the test is
    marked ``hostile_manifest`` (it writes a broken manifest on purpose)."""
    monkeypatch.setenv("OPS_EVIDENCE_DIR", str(tmp_path / "evidence"))
    monkeypatch.setenv("ANSIBLE_HOME", str(tmp_path / "ansible-home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # no test writes to the machine's syslog (tests/unit/evidence/test_syslog_sink.py)
    monkeypatch.setenv("OPS_SYSLOG", "off")
    # output in English whatever the machine's locale (tests/unit/records/test_i18n.py)
    monkeypatch.setenv("OPS_LANG", "en")
    for name in ("SSH_AUTH_SOCK", "OPS_SIGNING_KEY"):  # approvals sign with the keys a test gives
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "home").mkdir()
    # the store as `ops-driver evidence init` starts it under the CLI's umask 027: a folder, an empty ledger
    (tmp_path / "evidence").mkdir(mode=0o750)
    (tmp_path / "evidence" / "ledger.jsonl").touch(mode=0o640)
    yield tmp_path / "evidence"
    if request.node.get_closest_marker("hostile_manifest") is None:
        problems = manifests.problems_under(tmp_path)
        assert not problems, "manifest.json against docs/schema/run-manifest.schema.json:\n" + "\n".join(problems)


@pytest.fixture()
def signers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Approvers' keys (tests/support/signers.py) in a scratch allowed-signers file read as policy/allowed_signers."""
    from ops_driver.evidence import signing
    from tests.support.signers import Signers

    found = Signers(tmp_path / "signers")
    monkeypatch.setattr(signing, "policy_signers_path", lambda: found.path)
    return found
