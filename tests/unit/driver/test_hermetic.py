"""The suite starts from a clean ANSIBLE_*/OPS_* environment whatever the shell has set (issue #27 item 8)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_shells_ansible_and_ops_variables_do_not_reach_the_tests(tmp_path: Path) -> None:
    vault = tmp_path / "vault-pass"
    vault.write_text("operator-secret\n")
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "import os\n"
        "def test_probe():\n"
        "    leaked = sorted(k for k in os.environ if k.startswith(('ANSIBLE_VAULT', 'OPS_PROJECT', 'AWS_PROFILE',\n"
        "                                                          'OPS_TODAY')))\n"
        "    assert leaked == [], leaked\n"
        "    assert os.environ.get('OPS_LANG') == 'en'  # what the tests set, not the shell's ja\n"
        f"    assert os.environ['ANSIBLE_CONFIG'] == {str(ROOT / 'ansible.cfg')!r}\n")
    env = {**os.environ, "ANSIBLE_VAULT_PASSWORD_FILE": str(vault), "ANSIBLE_VAULT_IDENTITY_LIST": f"ops@{vault}",
           "OPS_PROJECT_DIR": str(tmp_path), "OPS_LANG": "ja", "AWS_PROFILE": "prod", "OPS_TODAY": "2027-01-01",
           "ANSIBLE_CONFIG": str(tmp_path / "elsewhere.cfg")}
    # the probe runs under this project's conftest (rootdir ROOT), as every test does
    dest = ROOT / "tests" / "unit" / f"test_zz_probe_{os.getpid()}.py"
    dest.write_text(probe.read_text())
    try:
        got = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                              str(dest)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    finally:
        dest.unlink()
    assert got.returncode == 0, got.stdout + got.stderr
    assert "1 passed" in got.stdout
