"""Every role's molecule scenario as one test, so that pytest-xdist runs them beside the integration tests.

Each scenario runs its whole sequence (syntax, prepare, check, converge, idempotence, verify, cleanup; see its
``molecule.yml``) with ``molecule test`` in a scratch ``HOME``: molecule keeps its ephemeral folder (and so the
scenario's own sandbox) under ``$HOME/.cache/molecule``, which keeps scenarios that run at the same time apart.
The test passes only when molecule exits 0 **and** reports every action of the scenario's test sequence as
executed successfully, so a scenario whose sequence lost its check or idempotence step fails here.
``make molecule`` runs only these tests.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
#: Every scenario runs at least these, in this order (devsec's order: check before converge).
REQUIRED = ["syntax", "prepare", "check", "converge", "idempotence", "verify", "cleanup"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")

pytestmark = pytest.mark.molecule


def sequence(scenario: str) -> list[str]:
    data = yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text(encoding="utf-8"))
    return list(data["scenario"]["test_sequence"])


def test_there_are_scenarios_and_each_keeps_the_full_sequence() -> None:
    assert len(SCENARIOS) >= 9
    for scenario in SCENARIOS:
        assert sequence(scenario) == REQUIRED, scenario


@pytest.fixture(scope="module")
def version_answering_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with an ``ansible-playbook`` that answers ``--version`` alone from the real one's answer (taken once
    here) and runs the real ``ansible-playbook`` for everything else.

    Molecule runs ``ansible-playbook --version`` before every action of a scenario only to check that the program
    is there (molecule/provisioner/ansible_playbook.py ``_validate_backend``): seven runs of about 0.3 CPU-s per
    scenario, about a tenth of a scenario's CPU time, that test nothing of the roles. Every playbook still runs the
    real program: the wrapper replaces itself with it (``exec``).
    """
    real = Path(sys.executable).parent / "ansible-playbook"
    version = subprocess.run([str(real), "--version"], capture_output=True, text=True, check=True, timeout=120)
    folder = tmp_path_factory.mktemp("molecule-bin")
    (folder / "ansible-playbook.version").write_text(version.stdout, encoding="utf-8")
    wrapper = folder / "ansible-playbook"
    wrapper.write_text(f"""#!/bin/sh
# tests/molecule/test_scenarios.py version_answering_bin: --version alone from the real program's answer
if [ "$#" -eq 1 ] && [ "$1" = "--version" ]; then
    exec cat {shlex.quote(str(folder / "ansible-playbook.version"))}
fi
exec {shlex.quote(str(real))} "$@"
""", encoding="utf-8")
    wrapper.chmod(0o755)
    return folder


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario: str, tmp_path: Path, version_answering_bin: Path) -> None:
    home = tmp_path / "molecule-home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_NOCOLOR="1",
               NO_COLOR="1", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               PATH=os.pathsep.join([str(version_answering_bin), str(Path(sys.executable).parent), os.environ["PATH"]]))
    for name in ("OPS_SANDBOX_DIR", "OPS_EVIDENCE_DIR"):  # each scenario names its own
        env.pop(name, None)
    molecule = Path(sys.executable).parent / "molecule"
    r = subprocess.run([str(molecule), "test", "-s", scenario], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=900, check=False)
    out = ANSI.sub("", r.stdout + r.stderr)
    assert r.returncode == 0, f"molecule test -s {scenario} exited {r.returncode}:\n{out[-6000:]}"
    done = re.findall(rf"^INFO +\[{re.escape(scenario)} > (\w+)\] Executed: Successful$", out, re.MULTILINE)
    assert done == sequence(scenario), f"actions executed: {done}\n{out[-3000:]}"
