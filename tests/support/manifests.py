"""The run manifest's published schema (docs/schema/run-manifest.schema.json), checked against the manifests the
tests write: ``tests/conftest.py`` calls :func:`problems_under` at the end of every test."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "schema" / "run-manifest.schema.json"
#: Where bundles are, below a test's tmp_path: ``evidence/<run>/`` (the default), ``<other dir>/<run>/`` or ``<run>/``.
PATTERNS = ("*/manifest.json", "*/start.json", "*/*/manifest.json", "*/*/start.json")


@functools.lru_cache(maxsize=1)
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def problems(manifest: Any) -> list[str]:
    """Every way ``manifest`` (parsed JSON) breaks the schema, as ``<JSON path>: <message>``; empty when it holds."""
    return [f"{e.json_path}: {e.message}" for e in validator().iter_errors(manifest)]


def problems_under(root: Path) -> list[str]:
    """The schema problems of every bundle manifest below ``root`` (see :data:`PATTERNS`): ``start.json`` is the
    manifest an apply writes ahead. Files that are not a bundle's (no ``run_id``, or not JSON) are left alone: the
    bundle's own checks (``evidence verify``) judge them."""
    out = []
    for pattern in PATTERNS:
        for path in sorted(root.glob(pattern)):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and "run_id" in data:
                if path.name == "start.json":
                    data = dict(data, files={})  # the written-ahead manifest before the writer lists files
                out += [f"{path.relative_to(root)} {p}" for p in problems(data)]
    return out
