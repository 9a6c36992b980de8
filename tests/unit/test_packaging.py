"""pyproject.toml packages every package of ops_driver (the sandbox subpackage included), nothing else."""

from __future__ import annotations

import tomllib

from ops_driver.paths import project_root


def test_every_ops_driver_package_is_in_the_packaging_list() -> None:
    root = project_root()
    listed = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]
    found = sorted(".".join(p.parent.relative_to(root).parts) for p in (root / "ops_driver").rglob("__init__.py"))
    assert "ops_driver.sandbox" in found
    assert sorted(listed) == found
