"""Request data is never templated (issue #22), proven on the real playbooks with the schema's refusal taken away.

The request schema refuses template delimiters (tests/unit/driver/test_untrusted.py); these tests take that layer away
and show the second one: every playbook of every automated task, planned in check mode with a ``lookup('pipe')``
in each of its string parameters, leaves no marker file — the driver hands request values to Ansible tagged
``!unsafe``. A control run with the same values passed as plain extra vars (as before the fix) does create the
marker, so the test can tell the difference. Secrets named in a template never reach the evidence.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ops_driver import untrusted
from ops_driver.catalog import Task, load_catalog
from ops_driver.paths import inventory_dir, project_root
from ops_driver.run import pipeline, runner
from tests.integration.conftest import write_request

pytestmark = pytest.mark.integration
CATALOG = load_catalog()
AUTOMATED = sorted(t.id for t in CATALOG.tasks.values() if t.automation is not None)


def _injection(marker: Path) -> str:
    return "{{ lookup('ansible.builtin.pipe', 'touch " + str(marker) + "; echo x') }}"


def _hostile_extravars(task: Task, marker: Path) -> dict[str, Any]:
    """Every string (or list-of-string) parameter of ``task`` set to a command that creates ``marker``; the other
    parameters at their catalog default, or a plain value of their type."""
    assert task.automation is not None
    value = _injection(marker)
    out: dict[str, Any] = {}
    for p in task.automation.params:
        if p.type in ("str", "path"):
            out[p.name] = value
        elif p.type == "list":
            out[p.name] = [value] if (p.elements or "str") in ("str", "path") else []
        elif p.default is not None:
            out[p.name] = p.default
        elif p.type == "int":
            out[p.name] = p.minimum if p.minimum is not None else 1
        elif p.type == "bool":
            out[p.name] = False
    out.update(ops_task_id=task.id, ops_ticket=value, ops_run_id="plan-injection-test", ops_requested_by=value)
    return out


@pytest.mark.parametrize("task_id", AUTOMATED)
def test_no_string_parameter_of_any_playbook_is_templated(task_id: str, estate: Any, tmp_path: Path) -> None:
    task = CATALOG.get(task_id)
    assert task.automation is not None
    marker = tmp_path / "marker"
    result = runner.run_playbook(project_root() / task.automation.playbook, inventory_dir("sandbox"),
                                 _hostile_extravars(task, marker), check=True, timeout_s=120)
    assert result.status in ("successful", "failed"), result.status
    assert not marker.exists(), f"{task_id}: a request value was run as a template"


def test_the_same_values_as_plain_extra_vars_would_run_the_command(estate: Any, tmp_path: Path) -> None:
    """The control: before the fix (extra vars passed as trusted JSON), INFO-013's key ran the command."""
    import ansible_runner

    task = CATALOG.get("INFO-013")
    assert task.automation is not None
    marker = tmp_path / "marker"
    ev = _hostile_extravars(task, marker)
    ev.update(bucket="joho-backup-sandbox", dest_dir="REQ-1", ops_ticket="REQ-1", ops_requested_by="pytest")
    (tmp_path / "pd").mkdir()
    ansible_runner.run(private_data_dir=str(tmp_path / "pd"), playbook=str(project_root() / task.automation.playbook),
                       inventory=str(inventory_dir("sandbox")), extravars=ev, cmdline="--check --diff",
                       envvars=runner.ansible_env(), quiet=True, project_dir=str(project_root()))
    assert marker.exists()


def _evidence_text(base: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in base.rglob("*") if p.is_file())


def _vault_password_value() -> str:
    """The sandbox vault's NAS password, decrypted with ansible-core's VaultLib and the sandbox's vault password."""
    import yaml
    from ansible.parsing.vault import VaultLib, VaultSecret

    inv = inventory_dir("sandbox")
    text = (inv / "group_vars" / "nas_transfer" / "vault.yml").read_text()
    block = yaml.safe_load(text.replace("!vault |", "|"))["vault_nas_transfer_password"]
    secret = VaultSecret((inv / "vault-password").read_bytes().strip())
    return VaultLib([("default", secret)]).decrypt(block).decode()


@pytest.fixture()
def schema_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take the request schema's template refusal away (as if a field had been missed)."""
    monkeypatch.setattr(untrusted, "check", lambda value, source: None)


def test_a_vault_variable_named_in_a_request_never_reaches_the_evidence(estate: Any, schema_gap: None,
                                                                         tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import ops_sandbox

    ops_sandbox.seed_nas(Path(os.environ["OPS_SANDBOX_DIR"]) / "nas")
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(inventory_dir("sandbox") / "vault-password"))
    secret = _vault_password_value()
    assert len(secret) >= 8
    req = write_request(tmp_path / "r.yml", "STAT-011", {
        "source_dir": "work/2026-11", "dest_dir": "from-prod/{{ vault_nas_transfer_password }}",
        "items": ["summary.csv"], "compression": "zip", "encryption": "aes256", "password_source": "vault"})
    out = pipeline.plan(req)
    text = _evidence_text(Path(os.environ["OPS_EVIDENCE_DIR"]))
    assert secret not in text
    assert base64.b64encode(secret.encode()).decode() not in text
    assert out.exit_code in (0, 2), out.message


def test_the_esa_password_named_in_a_request_never_reaches_the_evidence(estate: Any, schema_gap: None,
                                                                        tmp_path: Path) -> None:
    secret = (Path(os.environ["OPS_SANDBOX_DIR"]) / "esa" / "password").read_text().strip()
    req = write_request(tmp_path / "r.yml", "COMM-025", {
        "operation": "change", "sender_groups": ["WHITELIST"], "add": ["{{ esa_sender_groups_password | b64encode }}"]})
    out = pipeline.plan(req)
    text = _evidence_text(Path(os.environ["OPS_EVIDENCE_DIR"]))
    assert secret not in text
    assert base64.b64encode(secret.encode()).decode() not in text
    assert out.exit_code in (0, 2), out.message


def test_everything_the_cli_writes_is_group_readable_and_not_world_readable(estate: Any, tmp_path: Path) -> None:
    req = write_request(tmp_path / "r.yml", "INFO-005", {"instances": ["joho-web01"]})
    base = Path(os.environ["OPS_EVIDENCE_DIR"])
    old = os.umask(0o022)  # an operator's usual mask: ops-driver tightens it
    try:
        proc = subprocess.run([sys.executable, "-m", "ops_driver.cli", "plan", "--quiet", str(req)],
                              capture_output=True, text=True, timeout=300, env={**os.environ})
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr
    paths = [base, *base.rglob("*")]
    assert any(p.name == "manifest.json" for p in paths) and any(p.name == "ledger.jsonl" for p in paths)
    for p in paths:
        mode = p.stat().st_mode & 0o777
        assert mode & 0o007 == 0, f"{p} is {oct(mode)}: readable by other accounts"
        assert mode & 0o040, f"{p} is {oct(mode)}: not readable by the group"
