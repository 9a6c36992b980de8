"""Shared fixtures: a scratch ANSIBLE_HOME and evidence folder for every test."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _scratch_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes evidence into its own folder and never into ~/.ansible."""
    monkeypatch.setenv("OPS_EVIDENCE_DIR", str(tmp_path / "evidence"))
    monkeypatch.setenv("ANSIBLE_HOME", str(tmp_path / "ansible-home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    return tmp_path / "evidence"
