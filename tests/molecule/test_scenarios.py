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


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario: str, tmp_path: Path) -> None:
    home = tmp_path / "molecule-home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_NOCOLOR="1",
               NO_COLOR="1", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    for name in ("OPS_SANDBOX_DIR", "OPS_EVIDENCE_DIR"):  # each scenario names its own
        env.pop(name, None)
    molecule = Path(sys.executable).parent / "molecule"
    r = subprocess.run([str(molecule), "test", "-s", scenario], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=900, check=False)
    out = ANSI.sub("", r.stdout + r.stderr)
    assert r.returncode == 0, f"molecule test -s {scenario} exited {r.returncode}:\n{out[-6000:]}"
    done = re.findall(rf"^INFO +\[{re.escape(scenario)} > (\w+)\] Executed: Successful$", out, re.MULTILINE)
    assert done == sequence(scenario), f"actions executed: {done}\n{out[-3000:]}"
