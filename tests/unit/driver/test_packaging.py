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


def test_runtime_and_development_dependencies_are_separate_lock_groups() -> None:
    """requirements.lock is what a production install and the execution environment get: no test, lint, sandbox or
    browser tool in it; requirements-dev.lock holds those, at the runtime lock's versions (-c requirements.lock)."""
    root = project_root()

    def pins(name: str) -> dict[str, str]:
        out = {}
        for line in (root / name).read_text(encoding="utf-8").splitlines():
            if line[:1].isalnum() and "==" in line:
                pkg, version = line.split(" ")[0].split("==")
                out[pkg.lower()] = version
        return out

    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    for tool in ("moto", "selenium", "pytest", "molecule", "ansible-lint", "supervisor", "mypy", "ruff", "awxkit"):
        assert tool not in runtime, tool
        assert tool in dev, tool
    for pkg in ("ansible-core", "ansible-runner", "boto3", "jsonschema", "pyyaml", "holidays", "asyncssh"):
        assert pkg in runtime, pkg
    assert {p: v for p, v in dev.items() if p in runtime and runtime[p] != v} == {}
    assert "-c requirements.lock" in (root / "requirements-dev.in").read_text(encoding="utf-8")
    ee = (root / "execution-environment" / "requirements.txt").read_text(encoding="utf-8")
    assert all(line.split("==")[0].lower() in runtime for line in ee.splitlines() if "==" in line)
