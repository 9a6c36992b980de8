#!/usr/bin/env python3
"""Write the generated parts of the docs from the catalog and the roles' argument specs.

The catalog (``catalog/*.yml``, each task's ``automation`` block) and the roles' ``meta/argument_specs.yml`` are
the one source of what an operation takes; the docs repeat them only between markers that this script rewrites:

- ``docs/operators.md``: ``<!-- generated:operations-table -->`` (catalog ID, name_ja, change class, playbook,
  role of every automated task) and one ``<!-- generated:operations ROLE -->`` block per role (the role's
  description from its argument spec, then each of its tasks: playbook, change class, time limit, parameters).

A role README's variables table is written by hand (it says where each value comes from: the request, the inventory,
``ops-driver apply``); ``--variables ROLE`` prints a first version of it from ``meta/argument_specs.yml``, and
``tests/unit/driver/test_docs.py`` checks that it lists exactly the spec's options.

Each block ends with ``<!-- /generated:NAME -->``; text outside the markers is never touched.

Usage (from the repository root, or any folder: paths are found from this file)::

    python scripts/gen_docs.py           # rewrite the generated parts in place
    python scripts/gen_docs.py --check   # exit 1 naming every stale or missing part, write nothing
    python scripts/gen_docs.py --variables ec2_power   # print a variables table from the role's argument spec

``tests/unit/driver/test_docs.py`` runs the check, so a catalog or argument-spec change without ``gen_docs.py`` fails.
Errors: a missing marker is reported as stale (``--check``) or raised as :class:`DocsError` (rewrite).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
OPERATORS = Path("docs/operators.md")
#: the catalog's default time limit when an automation block sets no ``timeout_minutes`` (ops_driver/catalog.py)
DEFAULT_TIMEOUT_MINUTES = 60


#: libyaml's loader when PyYAML was built with it (6x faster on the catalog), else the pure-Python one
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 - a safe loader


class DocsError(Exception):
    """A generated part cannot be written (its markers are missing or unbalanced)."""


def load_automated(root: Path = ROOT) -> list[dict[str, Any]]:
    """Every catalog task with an ``automation`` block, sorted by catalog ID (``catalog/*.yml``)."""
    tasks: list[dict[str, Any]] = []
    for path in sorted((root / "catalog").glob("*.yml")):
        doc = _load_yaml(path)
        tasks.extend(t for t in doc.get("tasks", []) if t.get("automation"))
    return sorted(tasks, key=lambda t: str(t["id"]))


def load_specs(root: Path = ROOT) -> dict[str, dict[str, Any]]:
    """Role name -> the ``main`` entry point of its ``meta/argument_specs.yml`` (roles without one are left out)."""
    specs: dict[str, dict[str, Any]] = {}
    for path in sorted((root / "roles").glob("*/meta/argument_specs.yml")):
        doc = _load_yaml(path)
        specs[path.parent.parent.name] = doc["argument_specs"]["main"]
    return specs


def cell(text: object) -> str:
    """One Markdown table cell: a single line, ``|`` escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _code(value: object) -> str:
    if value is None:
        value = "null"
    elif value == "":
        value = '""'
    elif isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, list | dict):
        value = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip()
    return f"`{value}`"


def _description(spec: Mapping[str, Any]) -> str:
    desc = spec.get("description", "")
    return " ".join(desc) if isinstance(desc, list) else str(desc)


def operations_table(tasks: Iterable[Mapping[str, Any]]) -> str:
    """The table of automated operations: catalog ID, name_ja (name_en), change class, playbook, role."""
    lines = ["| catalog ID | operation | change class | playbook | role |", "|---|---|---|---|---|"]
    for t in tasks:
        a = t["automation"]
        lines.append(
            f"| `{t['id']}` | {cell(t['name_ja'])} ({cell(t.get('name_en', ''))}) | `{a['change_class']}` "
            f"| `{a['playbook']}` | [`{a['role']}`](../roles/{a['role']}/README.md) |"
        )
    return "\n".join(lines)


def _param_limits(p: Mapping[str, Any]) -> str:
    parts: list[str] = []
    if "choices" in p:
        parts.append("one of " + ", ".join(_code(c) for c in p["choices"]))
    if "minimum" in p or "maximum" in p:
        parts.append(f"{p.get('minimum', '…')} to {p.get('maximum', '…')}")
    if "sandbox_minimum" in p:
        parts.append(f"sandbox minimum {p['sandbox_minimum']}")
    if "min_items" in p or "max_items" in p:
        parts.append(f"{p.get('min_items', 0)} to {p.get('max_items', '…')} items")
    if "pattern" in p:
        parts.append(f"pattern `{p['pattern']}`")
    return cell("; ".join(parts)) if parts else ""


def _need(p: Mapping[str, Any]) -> str:
    if p.get("required"):
        return "required"
    return "default " + _code(p["default"]) if "default" in p else "optional"


def _param_type(p: Mapping[str, Any]) -> str:
    kind = str(p["type"])
    return f"{kind}[{p['elements']}]" if "elements" in p else kind


def role_reference(role: str, tasks: Iterable[Mapping[str, Any]], spec: Mapping[str, Any] | None) -> str:
    """The reference of one role's operations: the role's spec description, then each task and its parameters."""
    out: list[str] = []
    if spec is not None:
        out.append(f"Role [`{role}`](../roles/{role}/README.md): {cell(spec.get('short_description', ''))}")
        out.append("")
        out.extend(f"- {cell(d)}" for d in (spec.get("description") or []))
    for t in tasks:
        a = t["automation"]
        out.append(f"\n#### {t['id']} — {t.get('name_en', '')} ({t['name_ja']})\n")
        facts = [
            f"playbook `{a['playbook']}`",
            f"change class `{a['change_class']}`",
            f"time limit {a.get('timeout_minutes', DEFAULT_TIMEOUT_MINUTES)} min",
        ]
        if a.get("read_only"):
            facts.append("**read-only** (a plan that would change something is refused, exit 4)")
        if a.get("schedule"):
            facts.append(f"on the environment's day of the annual schedule `{a['schedule']}`")
        out.append("; ".join(facts) + ". " + cell(t.get("summary_en", "")))
        for w in a.get("warnings_en") or []:
            out.append(f"\n> **Warning in the report of every plan and apply:** {cell(w)}")
        params = a.get("params") or []
        if params:
            out.append("\n| parameter | type | required / default | limits | meaning |\n|---|---|---|---|---|")
            for p in params:
                need = _need(p)
                if p.get("secret"):
                    need += " (secret: `********` in the evidence)"
                meaning = cell(p.get("description", ""))
                out.append(f"| `{p['name']}` | {_param_type(p)} | {need} | {_param_limits(p)} | {meaning} |")
        else:
            out.append("\nNo parameters.")
    return "\n".join(out).strip()


def role_variables(spec: Mapping[str, Any]) -> str:
    """A first variables table of a role, from its argument spec's options (name, type, required/default, meaning)."""
    lines = ["| variable | type | required / default | meaning |", "|---|---|---|---|"]
    for name, o in (spec.get("options") or {}).items():
        kind = str(o.get("type", "str"))
        if "elements" in o:
            kind = f"{kind}[{o['elements']}]"
        if "choices" in o:
            kind += ": " + " / ".join(_code(c) for c in o["choices"])
        need = _need(o)
        if o.get("no_log"):
            need += " (no_log)"
        lines.append(f"| `{name}` | {cell(kind)} | {cell(need)} | {cell(_description(o))} |")
    return "\n".join(lines)


def _marker_re(name: str) -> re.Pattern[str]:
    n = re.escape(name)
    return re.compile(rf"(<!-- generated:{n} -->\n)(.*?)(<!-- /generated:{n} -->)", re.S)


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the part between ``<!-- generated:NAME -->`` and its end marker replaced by ``body``.

    Raises :class:`DocsError` when the pair of markers is not there exactly once.
    """
    pattern = _marker_re(name)
    if len(pattern.findall(text)) != 1:
        raise DocsError(f"markers <!-- generated:{name} --> … <!-- /generated:{name} --> missing or repeated")
    return pattern.sub(lambda m: m.group(1) + "\n" + body.strip() + "\n\n" + m.group(3), text)


def expected(root: Path = ROOT) -> dict[Path, str]:
    """Every file with generated parts (relative path) -> its text with those parts as they should be."""
    tasks = load_automated(root)
    specs = load_specs(root)
    files: dict[Path, str] = {}
    text = (root / OPERATORS).read_text(encoding="utf-8")
    text = replace_block(text, "operations-table", operations_table(tasks))
    for role in sorted({str(t["automation"]["role"]) for t in tasks}):
        mine = [t for t in tasks if t["automation"]["role"] == role]
        text = replace_block(text, f"operations {role}", role_reference(role, mine, specs.get(role)))
    files[OPERATORS] = text
    return files


def stale(root: Path = ROOT) -> list[str]:
    """The generated parts that differ from what the catalog and the argument specs give (empty: all current)."""
    try:
        want = expected(root)
    except (DocsError, OSError) as exc:
        return [str(exc)]
    return [str(rel) for rel, text in want.items() if (root / rel).read_text(encoding="utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming every stale part")
    parser.add_argument("--variables", metavar="ROLE", help="print a variables table from the role's argument spec")
    args = parser.parse_args(argv)
    if args.variables:
        specs = load_specs()
        if args.variables not in specs:
            known = ", ".join(specs)
            print(f"gen_docs: no roles/{args.variables}/meta/argument_specs.yml; known: {known}", file=sys.stderr)
            return 2
        print(role_variables(specs[args.variables]))
        return 0
    if args.check:
        bad = stale()
        for item in bad:
            print(f"stale: {item} (run python scripts/gen_docs.py)", file=sys.stderr)
        return 1 if bad else 0
    try:
        want = expected()
    except DocsError as exc:
        print(f"gen_docs: {exc}", file=sys.stderr)
        return 2
    for rel, text in want.items():
        path = ROOT / rel
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
