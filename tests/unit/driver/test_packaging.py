"""pyproject.toml packages every package of ops_driver and nothing else: the sandbox is the development-only
distribution dev/pyproject.toml (issue #27 item 7)."""

from __future__ import annotations

import tomllib

from ops_driver.paths import project_root


def test_every_ops_driver_package_is_in_the_packaging_list() -> None:
    root = project_root()
    listed = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]
    found = sorted(".".join(p.parent.relative_to(root).parts) for p in (root / "ops_driver").rglob("__init__.py"))
    assert sorted(listed) == found
    assert not any("sandbox" in p for p in listed)


def test_the_sandbox_is_its_own_development_only_distribution() -> None:
    root = project_root()
    dev = tomllib.loads((root / "dev" / "pyproject.toml").read_text(encoding="utf-8"))
    assert dev["tool"]["setuptools"]["packages"] == ["ops_sandbox"]
    assert (root / "dev" / "ops_sandbox" / "__init__.py").is_file()
    product = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "ops-sandbox" not in " ".join(product["dependencies"])
