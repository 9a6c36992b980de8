"""The execution environment (ops_driver/awx/ee.py) and the signed project content for AWX (issue #16)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops_driver.paths import project_root

ROOT = project_root()


# ---------------------------------------------------------------- execution environment

def test_the_execution_environment_follows_the_lock_file() -> None:
    """The committed execution-environment.yml and its files are what `make ee` makes from requirements.lock."""
    from ops_driver.awx import ee

    lock = (ROOT / "requirements.lock").read_text()
    for rel, text in ee.files(lock).items():
        assert (ROOT / rel).read_text() == text, f"{rel} is out of date: run make ee"
    pins = dict(line.split("==") for line in (ROOT / "execution-environment" / "requirements.txt").read_text()
                .splitlines() if "==" in line)
    locked = {name: (version) for name, (_, version, _) in ee.parse_lock(lock).items()}
    assert all(locked[ee._normal(n)] == v for n, v in pins.items())
    for needed in ("ansible", "boto3", "botocore", "asyncssh", "pyzipper", "py7zr", "jsonschema", "pyyaml",
                   "cryptography", "referencing"):  # referencing: a dependency of jsonschema, found through the lock
        assert needed in pins, needed
    for tool in ("pytest", "moto", "ansible-lint", "molecule", "mypy", "ruff", "ansible-core", "ansible-runner"):
        assert tool not in pins, tool  # test tools stay out; the builder installs ansible-core and ansible-runner
    definition = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    assert definition["version"] == 3
    assert definition["dependencies"]["ansible_core"]["package_pip"] == f"ansible-core=={locked['ansible-core']}"


def test_ansible_builder_creates_the_build_context(tmp_path: Path) -> None:
    builder = Path(sys.executable).parent / "ansible-builder"
    out = subprocess.run([str(builder), "create", "-f", str(ROOT / "execution-environment.yml"), "-c",
                          str(tmp_path / "context"), "--output-filename", "Containerfile"], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    ctx = tmp_path / "context"
    containerfile = (ctx / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="docker.io/library/python:3.11-slim-bookworm"' in containerfile
    assert 'ARG PKGMGR="/usr/bin/apt-get"' in containerfile and "RUN apt-get update" in containerfile
    assert "ansible-core==2.19" in containerfile and "ansible-runner==" in containerfile
    assert (ctx / "_build" / "requirements.txt").read_text() == \
        (ROOT / "execution-environment" / "requirements.txt").read_text()
    bindep = (ctx / "_build" / "bindep.txt").read_text()
    assert all(f"{p} [platform:dpkg]" in bindep for p in ("p7zip-full", "rsync", "openssh-client"))
    for script in ("assemble", "install-from-bindep", "introspect.py", "entrypoint"):
        assert (ctx / "_build" / "scripts" / script).is_file()


# ---------------------------------------------------------------- signed content

@pytest.fixture()
def gnupg_home() -> Any:
    """A throwaway GnuPG home with one signing key (no passphrase); its agent is stopped afterwards."""
    import shutil
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="gpg-", dir="/tmp"))  # short: the agent's socket path has a length limit
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "ops-driver test <test@example.invalid>",
                    "ed25519", "sign", "never"], env=env, check=True, capture_output=True, timeout=60)
    yield env
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True, timeout=30)
    shutil.rmtree(home, ignore_errors=True)


def test_make_sign_signs_the_content_and_a_changed_playbook_fails_verification(gnupg_home: dict[str, str],
                                                                              tmp_path: Path) -> None:
    tree = tmp_path / "project"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for rel in files:
        if (ROOT / rel).is_file():
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            (tree / rel).write_bytes((ROOT / rel).read_bytes())
    env = {**gnupg_home, "GPG_TTY": "/dev/null", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    signed = subprocess.run(["make", "-s", "-C", str(ROOT), "sign", f"SIGN_TREE={tree}"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert signed.returncode == 0, signed.stdout + signed.stderr
    listed = (tree / ".ansible-sign" / "sha256sum.txt").read_text()
    assert "  playbooks/info-005-ec2-stop.yml\n" in listed and "  MANIFEST.in\n" in listed
    assert (tree / ".ansible-sign" / "sha256sum.txt.sig").is_file()
    assert not any(".ansible-sign/" in line or "/.git/" in line for line in listed.splitlines())

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(Path(sys.executable).parent / "ansible-sign"), "project", "gpg-verify", str(tree)],
                              env=env, capture_output=True, text=True, timeout=120)

    assert verify().returncode == 0
    playbook = tree / "playbooks" / "info-005-ec2-stop.yml"
    original = playbook.read_text()
    playbook.write_text(original.replace("ec2_power_state: stopped", "ec2_power_state: running"))
    failed = verify()
    assert failed.returncode != 0 and "Checksum mismatch: playbooks/info-005-ec2-stop.yml" in failed.stdout
    playbook.write_text(original)
    (tree / "playbooks" / "unreviewed.yml").write_text("- hosts: all\n")
    added = verify()
    assert added.returncode != 0 and "playbooks/unreviewed.yml" in added.stdout
    (tree / "playbooks" / "unreviewed.yml").unlink()
    assert verify().returncode == 0
    sig = tree / ".ansible-sign" / "sha256sum.txt"
    sig.write_text(listed.replace(listed.split()[0], "0" * 64, 1))  # the checksum list itself altered
    assert verify().returncode != 0
