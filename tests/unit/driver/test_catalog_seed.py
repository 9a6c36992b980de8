"""The operations catalog (catalog/*.yml) against the seed documents it was written from.

The seed files are parsed here with a parser of their own: every name, summary and category this
test expects is read from the seed text, never from the catalog. The test fails when a seed row has
no catalog task, when a catalog task has no seed row, or when name_ja / summary_ja / category (and
the other seed-derived fields) differ from the seed.

Seeds are looked up in $OPS_SEEDS_DIR, by default <repo root>/../shared/seeds. A clone of this repository alone has
none: the comparison is then skipped with a message naming $OPS_SEEDS_DIR, unless $OPS_REQUIRE_SEEDS=1 (set by
.ci/run, which has the seeds), when it fails.

name_ja rule for the lists with several name columns (情報系: 大項目/小項目; help desk:
大項目/中項目/小項目): the non-empty parts joined with " / ", a part equal to the one before it (a merged
cell spread over two columns) written once.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

REPO_ROOT = Path(__file__).resolve().parents[3]
CATALOG_DIR = REPO_ROOT / "catalog"
SCHEMA_PATH = CATALOG_DIR / "schema" / "catalog.schema.json"

LISTS_SEED = "000_b531716006324310.txt"
HELP_SEED = "001_2dc6b9f13ceddef2.txt"

AREAS = ("CORE", "MYNA", "COMM", "INFO", "STAT", "HELP")
EXPECTED_COUNTS = {"CORE": 72, "MYNA": 29, "COMM": 33, "INFO": 38, "STAT": 15, "HELP": 21}
SEED_FILE = {area: (HELP_SEED if area == "HELP" else LISTS_SEED) for area in AREAS}

# ■ headings of seed 000 (the first list, CORE, has none).
HEADING_AREAS = {
    "■マイナンバーアプリケーション領域": "MYNA",
    "■コミュニケーションツール領域": "COMM",
    "■情報系": "INFO",
    "■統計分析": "STAT",
}
SECTIONED = ("CORE", "MYNA", "COMM")
HEADER_FIRST_CELLS = {"項", "項 分類", "No."}
NAME_JOIN = " / "
NO_REFERENCE = {"", "—"}

# COMM rows 4 and 6 carry 分類 in its own cell and have no 作業概要 cell at all; they repeat the
# template rows of the CORE list (same row number, 分類 and 項目名), whose 作業概要 the catalog uses.
COMM_ROWS_WITHOUT_SUMMARY = frozenset({4, 6})

# Cycle cells whose meaning is fixed; 定期 is resolved per row from the reference / timing text.
CYCLE_MAP = {
    "随時": "on_demand",
    "日次": "daily",
    "日次/随時": "daily",
    "週次": "weekly",
    "月次": "monthly",
    "年次": "yearly",
    "24H": "daily",
    "1/D": "daily",
    "2/D": "daily",
    "1/W": "weekly",
    "1/M": "monthly",
    "1/Y": "yearly",
    "2/Y": "yearly",
    "1/5Y": "yearly",
}
KNOWN_CYCLE_CELLS = set(CYCLE_MAP) | {"定期"}
ROLE_SYMBOLS = {"◎": "perform", "▲": "approve", "△": "supervise", "□": "support"}
SUPERVISED_MARK = "●"

ROW_RE = re.compile(r"^(\d+)(?:\s+(\S.*))?$")
SPACES_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class SeedRow:
    """One task row as the seed writes it."""

    area: str
    row: int
    line: int
    category: str
    name_ja: str
    summary_ja: str
    cycle_ja: str
    section_ja: str | None = None
    reference_ja: str | None = None
    scope: tuple[str, ...] | None = None
    roles: tuple[tuple[str, str, bool], ...] | None = None
    method_ja: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def task_id(self) -> str:
        return f"{self.area}-{self.row:03d}"


@dataclass
class SeedParse:
    rows: dict[str, list[SeedRow]]
    oddities: dict[str, set[str]]


# --------------------------------------------------------------------------------------------------
# Seed parser
# --------------------------------------------------------------------------------------------------


def seeds_dir() -> Path:
    default = REPO_ROOT.parent / "shared" / "seeds"
    where = Path(os.environ["OPS_SEEDS_DIR"]) if os.environ.get("OPS_SEEDS_DIR") else default
    missing = [name for name in (LISTS_SEED, HELP_SEED) if not (where / name).is_file()]
    if missing:
        message = (f"seed documents not found: looked for {', '.join(missing)} in {where}. "
                   "Set OPS_SEEDS_DIR to the directory holding the seed files.")
        if os.environ.get("OPS_REQUIRE_SEEDS") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return where


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.rstrip("\r\n").split("\t")]


def _reference(ref: str, note: str = "") -> str | None:
    text = ref if ref not in NO_REFERENCE else ""
    if note:
        text = f"{text} (備考: {note})" if text else f"備考: {note}"
    return text or None


def join_name_parts(parts: Iterable[str]) -> str:
    kept: list[str] = []
    for part in parts:
        if part and (not kept or kept[-1] != part):
            kept.append(part)
    return NAME_JOIN.join(kept)


def parse_operation_lists(text: str) -> tuple[dict[str, list[SeedRow]], dict[str, set[str]]]:
    """Seed 000: the five operation lists."""
    rows: dict[str, list[SeedRow]] = {area: [] for area in ("CORE", "MYNA", "COMM", "INFO", "STAT")}
    oddities: dict[str, set[str]] = {"category_from_name": set(), "summary_missing": set()}
    area = "CORE"
    heading = ""
    section: str | None = None
    carried: str | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        cells = _cells(raw)
        first = cells[0]
        if first.startswith("■"):
            key = first.split()[0]
            if key not in HEADING_AREAS:
                raise AssertionError(f"line {lineno}: unknown list heading {first!r}")
            area, heading, section, carried = HEADING_AREAS[key], first, None, None
            continue
        match = ROW_RE.match(first)
        if match is None:
            is_section = area in SECTIONED and first not in HEADER_FIRST_CELLS and not any(cells[1:])
            if first and is_section:
                section, carried = first, None
            continue
        number, merged_category = int(match.group(1)), match.group(2)
        rest = cells[1:]
        note = ""
        scope: tuple[str, ...] | None = None
        summary: str | None
        if area in ("CORE", "MYNA"):
            if merged_category is not None:
                category, (name, summary, cycle, ref) = merged_category, rest[:4]
            else:
                category, name, summary, cycle, ref = rest[:5]
        elif area == "COMM":
            if merged_category is not None:
                category = merged_category
                name, summary, cycle, ref, note = rest[:5]
            elif number in COMM_ROWS_WITHOUT_SUMMARY:
                category, name, cycle, ref, note = rest[:5]
                summary = None
            else:
                category = ""
                name, summary, cycle, ref, note = rest[:5]
        elif area == "INFO":
            category, major, minor, cycle, summary, ap_cell, cloud_cell = rest[:7]
            name = join_name_parts((major, minor))
            ref = ""
            scope = tuple(s for s, mark in (("ap", ap_cell), ("cloud", cloud_cell)) if mark == "○")
        else:  # STAT: no 分類 column; the list name is the category
            name, summary, cycle, ref = rest[:4]
            category = heading.removeprefix("■").removesuffix("運用作業一覧").strip()
        if category:
            carried = category
        elif carried is None:
            # First row of a section without a 分類 cell: 分類 and 項目名 were one merged cell.
            carried = name
            oddities["category_from_name"].add(f"{area}-{number:03d}")
        rows[area].append(
            SeedRow(
                area=area,
                row=number,
                line=lineno,
                category=carried,
                name_ja=name,
                summary_ja=summary if summary is not None else "",
                cycle_ja=cycle,
                section_ja=section if area in SECTIONED else None,
                reference_ja=_reference(ref, note),
                scope=scope,
                notes=("summary_missing",) if summary is None else (),
            )
        )
    # Borrow the missing COMM summaries from the CORE template rows, after checking they are the same row.
    core = {r.row: r for r in rows["CORE"]}
    for index, item in enumerate(rows["COMM"]):
        if "summary_missing" in item.notes:
            template = core[item.row]
            assert (template.category, template.name_ja) == (item.category, item.name_ja), (
                f"COMM row {item.row} (line {item.line}) is not the CORE template row it is assumed to be"
            )
            rows["COMM"][index] = replace(item, summary_ja=template.summary_ja)
            oddities["summary_missing"].add(item.task_id)
    return rows, oddities


def parse_help_desk(text: str) -> tuple[list[SeedRow], set[str]]:
    """Seed 001: the help-desk list (pages repeat the legends and the table header)."""
    lines = text.splitlines()
    parties: dict[int, str] = {}
    rows: list[SeedRow] = []
    last_key: tuple[str, ...] | None = None
    repeats: set[str] = set()
    for lineno, raw in enumerate(lines, start=1):
        cells = _cells(raw)
        if cells[0] == "" and len(cells) > 7 and cells[1] == "分類":
            sub = _cells(lines[lineno]) if lineno < len(lines) else []
            parties = {}
            party = ""
            for col in range(7, len(cells)):
                top = SPACES_RE.sub("", cells[col])
                below = SPACES_RE.sub("", sub[col]) if col < len(sub) else ""
                party = top or party
                if below:
                    parties[col] = f"{party} {below}"
            continue
        if not cells[0].isdigit() or len(cells) < 9:
            continue
        number = int(cells[0])
        category, major, middle, minor, summary, cycle = cells[1:7]
        key = tuple(SPACES_RE.sub("", c) for c in cells[1:7])
        if key == last_key:
            repeats.add(f"HELP row {number} (line {lineno})")
            continue
        last_key = key
        roles: list[tuple[str, str, bool]] = []
        for col in range(7, len(cells) - 1):
            mark = cells[col]
            if mark in ("", "-"):
                continue
            symbol = mark.replace(SUPERVISED_MARK, "")
            if symbol not in ROLE_SYMBOLS or col not in parties:
                raise AssertionError(f"line {lineno} column {col}: unexpected role cell {mark!r}")
            roles.append((parties[col], ROLE_SYMBOLS[symbol], SUPERVISED_MARK in mark))
        rows.append(
            SeedRow(
                area="HELP",
                row=number,
                line=lineno,
                category=category,
                name_ja=join_name_parts((major, middle, minor)),
                summary_ja=summary,
                cycle_ja=cycle,
                roles=tuple(roles),
                method_ja=cells[-1],
            )
        )
    return rows, repeats


@lru_cache(maxsize=1)
def _parse_seeds(where: str) -> SeedParse:
    base = Path(where)
    lists, oddities = parse_operation_lists((base / LISTS_SEED).read_text(encoding="utf-8"))
    help_rows, repeats = parse_help_desk((base / HELP_SEED).read_text(encoding="utf-8"))
    return SeedParse(rows={**lists, "HELP": help_rows}, oddities={**oddities, "repeated_rows": repeats})


def seed_rows() -> SeedParse:
    return _parse_seeds(str(seeds_dir()))


# --------------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------------


def compare_task(expected: SeedRow, task: Mapping[str, Any]) -> list[str]:
    """Differences between a seed row and its catalog task, one message each."""
    tid = expected.task_id
    problems: list[str] = []

    def check(name: str, want: object, got: object) -> None:
        if want != got:
            problems.append(f"{tid}: {name} is {got!r}, the seed says {want!r}")

    check("id", tid, task.get("id"))
    check("area", expected.area, task.get("area"))
    check("category", expected.category, task.get("category"))
    check("name_ja", expected.name_ja, task.get("name_ja"))
    check("summary_ja", expected.summary_ja, task.get("summary_ja"))
    check("cycle_ja", expected.cycle_ja, task.get("cycle_ja"))
    check("section_ja", expected.section_ja, task.get("section_ja"))
    check("reference_ja", expected.reference_ja, task.get("reference_ja"))
    seed = task.get("seed") or {}
    check("seed.file", SEED_FILE[expected.area], seed.get("file"))
    check("seed.row", expected.row, seed.get("row"))
    check("seed.line", expected.line, seed.get("line"))
    if expected.cycle_ja not in KNOWN_CYCLE_CELLS:
        problems.append(f"{tid}: unknown cycle cell {expected.cycle_ja!r} in the seed")
    elif expected.cycle_ja in CYCLE_MAP:
        check("cycle", CYCLE_MAP[expected.cycle_ja], task.get("cycle"))
    if expected.scope is not None:
        check("scope", list(expected.scope), task.get("scope"))
    if expected.roles is not None:
        got_roles = [
            (r.get("party_ja"), r.get("role"), bool(r.get("supervised", False)))
            for r in task.get("roles") or []
        ]
        check("roles", list(expected.roles), got_roles)
        check("method_ja", expected.method_ja, task.get("method_ja"))
    return problems


def reconcile(expected: Iterable[SeedRow], tasks: Iterable[Mapping[str, Any]]) -> list[str]:
    """Seed rows without a task, tasks without a seed row, and field differences."""
    by_id: dict[str, Mapping[str, Any]] = {}
    problems: list[str] = []
    for task in tasks:
        tid = str(task.get("id"))
        if tid in by_id:
            problems.append(f"{tid}: duplicate task id")
        by_id[tid] = task
    wanted = {row.task_id: row for row in expected}
    problems += [
        f"{tid}: seed row {row.row} (line {row.line}) has no catalog task"
        for tid, row in wanted.items()
        if tid not in by_id
    ]
    problems += [f"{tid}: catalog task has no seed row" for tid in by_id if tid not in wanted]
    for tid, row in wanted.items():
        if tid in by_id:
            problems += compare_task(row, by_id[tid])
    return problems


def load_catalog(area: str) -> dict[str, Any]:
    path = CATALOG_DIR / f"{area.lower()}.yml"
    assert path.is_file(), f"missing catalog file {path}"
    with path.open(encoding="utf-8") as handle:
        doc = yaml.safe_load(handle)
    assert isinstance(doc, dict), f"{path}: not a mapping"
    return doc


def _report(problems: list[str], limit: int = 40) -> str:
    shown = "\n".join(problems[:limit])
    more = f"\n... and {len(problems) - limit} more" if len(problems) > limit else ""
    return f"{len(problems)} problem(s):\n{shown}{more}"


# --------------------------------------------------------------------------------------------------
# Tests against the real seeds
# --------------------------------------------------------------------------------------------------


def test_seed_row_counts() -> None:
    parsed = seed_rows()
    counts = {area: len(rows) for area, rows in parsed.rows.items()}
    assert counts == EXPECTED_COUNTS
    for area, rows in parsed.rows.items():
        assert [r.row for r in rows] == list(range(1, len(rows) + 1)), f"{area}: rows not numbered 1..n"
        for r in rows:
            for value in (r.name_ja, r.summary_ja, r.category):
                assert value, f"{r.task_id}: empty seed cell (line {r.line})"
            assert r.cycle_ja in KNOWN_CYCLE_CELLS, f"{r.task_id}: cycle cell {r.cycle_ja!r} (line {r.line})"


def test_seed_oddities_are_the_documented_ones() -> None:
    """The irregular rows the catalog comments on are exactly these; a changed seed must be looked at."""
    odd = seed_rows().oddities
    assert odd["category_from_name"] == {"COMM-010"}
    assert odd["summary_missing"] == {"COMM-004", "COMM-006"}
    assert odd["repeated_rows"] == {"HELP row 22 (line 116)"}


@pytest.mark.parametrize("area", AREAS)
def test_catalog_matches_seed(area: str) -> None:
    expected = seed_rows().rows[area]
    doc = load_catalog(area)
    assert doc.get("area") == area
    assert doc.get("seed_file") == SEED_FILE[area]
    problems = reconcile(expected, doc.get("tasks") or [])
    assert not problems, _report(problems)


@pytest.mark.parametrize("area", AREAS)
def test_catalog_validates_against_schema(area: str) -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    errors = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator.iter_errors(load_catalog(area))
    ]
    assert not errors, _report(errors)


def test_catalog_ids_unique_and_counted() -> None:
    seen: dict[str, str] = {}
    duplicates: list[str] = []
    for area in AREAS:
        tasks = load_catalog(area).get("tasks") or []
        assert len(tasks) == EXPECTED_COUNTS[area], f"{area}: {len(tasks)} tasks"
        for task in tasks:
            tid = str(task.get("id"))
            assert tid.startswith(f"{area}-"), f"{tid} in {area.lower()}.yml"
            assert task.get("area") == area, f"{tid}: area {task.get('area')!r} in {area.lower()}.yml"
            if tid in seen:
                duplicates.append(f"{tid} in {seen[tid]} and {area}")
            seen[tid] = area
    assert not duplicates, duplicates
    assert len(seen) == sum(EXPECTED_COUNTS.values()) == 208


# --------------------------------------------------------------------------------------------------
# Negative checks: the comparison does report differences (no seed files needed)
# --------------------------------------------------------------------------------------------------

SAMPLE_ROW = SeedRow(
    area="INFO",
    row=5,
    line=169,
    category="障害対応",
    name_ja="システム起動/停止 / インスタンス停止",
    summary_ja="EC2インスタンスの停止を実施する。",
    cycle_ja="随時",
    scope=("cloud",),
)
SAMPLE_HELP_ROW = SeedRow(
    area="HELP",
    row=3,
    line=35,
    category="非インシデント",
    name_ja="ヘルプデスク / 問い合わせ対応 / 問い合わせ受付",
    summary_ja="運用業者は、問い合わせを受け付けます。",
    cycle_ja="随時",
    roles=(("運用業者 ヘルプデスク", "perform", False),),
    method_ja="ツール 手作業",
)


def task_for(row: SeedRow) -> dict[str, Any]:
    """A catalog task that agrees with the given seed row."""
    task: dict[str, Any] = {
        "id": row.task_id,
        "area": row.area,
        "category": row.category,
        "name_ja": row.name_ja,
        "name_en": "x",
        "summary_ja": row.summary_ja,
        "cycle": CYCLE_MAP.get(row.cycle_ja, "monthly"),
        "cycle_ja": row.cycle_ja,
        "seed": {"file": SEED_FILE[row.area], "row": row.row, "line": row.line},
    }
    if row.scope is not None:
        task["scope"] = list(row.scope)
    if row.roles is not None:
        task["roles"] = [{"party_ja": p, "role": r} for p, r, _ in row.roles]
        task["method_ja"] = row.method_ja
    return task


def test_comparison_accepts_matching_task() -> None:
    assert compare_task(SAMPLE_ROW, task_for(SAMPLE_ROW)) == []
    assert compare_task(SAMPLE_HELP_ROW, task_for(SAMPLE_HELP_ROW)) == []


@pytest.mark.parametrize(
    ("row", "key", "value"),
    [
        (SAMPLE_ROW, "name_ja", "システム起動/停止 / インスタンス起動"),
        (SAMPLE_ROW, "name_ja", "インスタンス停止"),
        (SAMPLE_ROW, "summary_ja", "EC2インスタンスの停止を実施する"),
        (SAMPLE_ROW, "category", "共通作業"),
        (SAMPLE_ROW, "cycle_ja", "日次"),
        (SAMPLE_ROW, "cycle", "daily"),
        (SAMPLE_ROW, "scope", ["ap"]),
        (SAMPLE_HELP_ROW, "roles", [{"party_ja": "運用業者 ヘルプデスク", "role": "support"}]),
        (SAMPLE_HELP_ROW, "method_ja", "手作業"),
    ],
    ids=[
        "name-other-row",
        "name-part-dropped",
        "summary-trimmed",
        "category",
        "cycle_ja",
        "cycle",
        "scope",
        "roles",
        "method",
    ],
)
def test_comparison_reports_mismatch(row: SeedRow, key: str, value: object) -> None:
    task = task_for(row)
    task[key] = value
    problems = compare_task(row, task)
    assert any(f": {key} is " in p for p in problems), problems


def test_reconcile_reports_missing_and_extra_tasks() -> None:
    other = replace(SAMPLE_ROW, row=6, line=170, name_ja="システム起動/停止 / インスタンス再起動")
    extra = task_for(replace(SAMPLE_ROW, row=99))
    problems = reconcile([SAMPLE_ROW, other], [task_for(SAMPLE_ROW), extra])
    assert "INFO-006: seed row 6 (line 170) has no catalog task" in problems
    assert "INFO-099: catalog task has no seed row" in problems


def test_missing_seed_directory_fails_when_seeds_are_required(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPS_SEEDS_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("OPS_REQUIRE_SEEDS", "1")  # as .ci/run sets it
    with pytest.raises(pytest.fail.Exception, match="OPS_SEEDS_DIR") as info:
        seeds_dir()
    assert str(tmp_path / "nowhere") in str(info.value)


def test_missing_seed_directory_skips_on_a_clone_alone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPS_SEEDS_DIR", str(tmp_path / "nowhere"))
    monkeypatch.delenv("OPS_REQUIRE_SEEDS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="OPS_SEEDS_DIR") as info:
        seeds_dir()
    assert str(tmp_path / "nowhere") in str(info.value)
