"""The docs agree with the catalog and the roles: generated parts current, one README skeleton per role, links resolve.

``scripts/gen_docs.py`` writes the operations table and reference of ``docs/operators.md`` from ``catalog/*.yml``
and the roles' ``meta/argument_specs.yml``; these tests fail when it was not run after a change, when a role README
leaves the skeleton or lists other variables than its argument spec, and when a link or a section link of the docs
points nowhere (pages moved, headings renamed).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from ops_driver.catalog import load_catalog
from ops_driver.request import parse_request

ROOT = Path(__file__).resolve().parents[3]
SKELETON = ["Purpose", "Catalog IDs", "Variables", "Check mode", "Failure and refusal", "Example"]
ROLES = sorted(p.parent.name for p in (ROOT / "roles").glob("*/README.md"))
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *(ROOT / "roles" / r / "README.md" for r in ROLES)]


def _gen_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_docs", module)
    spec.loader.exec_module(module)
    return module


GEN = _gen_docs()
AUTOMATED = GEN.load_automated(ROOT)


def _sections(text: str, level: str = "## ") -> dict[str, str]:
    """Heading (without the #s) -> the text up to the next heading of the same or a higher level."""
    parts = re.split(rf"^{level}(.*)$", text, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def _spec_options(role: str) -> dict[str, dict[str, object]]:
    doc = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    return dict(doc["argument_specs"]["main"].get("options") or {})


def _catalog_ids_of(role: str) -> set[str]:
    return {str(t["id"]) for t in AUTOMATED if t["automation"]["role"] == role}


def test_generated_parts_are_current() -> None:
    assert GEN.stale(ROOT) == [], "run: python scripts/gen_docs.py"


def _copy_sources(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "catalog", tmp_path / "catalog")
    for spec in (ROOT / "roles").glob("*/meta/argument_specs.yml"):
        (tmp_path / spec.relative_to(ROOT)).parent.mkdir(parents=True)
        shutil.copy(spec, tmp_path / spec.relative_to(ROOT))
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "operators.md", tmp_path / "docs" / "operators.md")
    return tmp_path


def test_a_catalog_change_makes_the_reference_stale_until_regenerated(tmp_path: Path) -> None:
    root = _copy_sources(tmp_path)
    assert GEN.stale(root) == []
    info = root / "catalog" / "info.yml"
    text = info.read_text(encoding="utf-8")
    assert "description: Instances to stop, by Name tag or instance ID." in text
    info.write_text(text.replace("Instances to stop, by Name tag", "Instances to halt, by Name tag"), encoding="utf-8")
    assert GEN.stale(root) == ["docs/operators.md"]
    for rel, new in GEN.expected(root).items():
        (root / rel).write_text(new, encoding="utf-8")
    assert GEN.stale(root) == []
    assert "Instances to halt, by Name tag" in (root / "docs" / "operators.md").read_text(encoding="utf-8")


def test_a_role_without_its_reference_block_is_reported(tmp_path: Path) -> None:
    root = _copy_sources(tmp_path)
    page = root / "docs" / "operators.md"
    text = page.read_text(encoding="utf-8")
    page.write_text(re.sub(r"<!-- (/?)generated:operations s3_restore -->", r"<!-- \1gone -->", text), encoding="utf-8")
    [problem] = GEN.stale(root)
    assert "generated:operations s3_restore" in problem
    with pytest.raises(GEN.DocsError):
        GEN.expected(root)


def test_the_operations_table_lists_every_automated_task_once() -> None:
    text = (ROOT / "docs" / "operators.md").read_text(encoding="utf-8")
    table = text.split("<!-- generated:operations-table -->")[1].split("<!-- /generated:operations-table -->")[0]
    listed = re.findall(r"^\| `([A-Z]+-\d{3})` \|", table, flags=re.M)
    automated = [str(t["id"]) for t in AUTOMATED]
    assert listed == automated and len(automated) >= 23
    for t in AUTOMATED:
        assert f"#### {t['id']} — " in text, f"{t['id']} has no reference section"


@pytest.mark.parametrize("role", ROLES)
def test_role_readme_has_the_skeleton(role: str) -> None:
    text = (ROOT / "roles" / role / "README.md").read_text(encoding="utf-8")
    assert text.startswith(f"# Role `{role}` — ")
    assert re.findall(r"^## (.*)$", text, flags=re.M) == SKELETON


@pytest.mark.parametrize("role", ROLES)
def test_role_readme_variables_table_is_the_argument_spec(role: str) -> None:
    """The first table of "Variables" whose header starts with "variable": its rows are exactly the spec's options;
    an option the spec requires says so in the default column."""
    section = _sections((ROOT / "roles" / role / "README.md").read_text(encoding="utf-8"))["Variables"]
    tables = re.findall(r"^(\| variable \|.*\n(?:\|.*\n?)+)", section, flags=re.M)
    assert tables, f"roles/{role}/README.md: no variables table (header '| variable | type | default | meaning |')"
    rows = [line.split("|")[1:-1] for line in tables[0].strip().splitlines()[2:]]
    names = [re.fullmatch(r"\s*`([a-z0-9_]+)`\s*", r[0]) for r in rows]
    assert all(names), f"roles/{role}/README.md: a row's first cell is not one `variable`: {rows}"
    listed = [m.group(1) for m in names if m]
    options = _spec_options(role)
    assert sorted(listed) == sorted(options), f"roles/{role}/README.md vs meta/argument_specs.yml"
    assert len(listed) == len(set(listed))
    for name, row in zip(listed, rows, strict=True):
        if options[name].get("required"):
            assert "required" in row[2], f"roles/{role}/README.md: {name} is required in the argument spec"


@pytest.mark.parametrize("role", ROLES)
def test_role_readme_names_its_catalog_ids(role: str) -> None:
    section = _sections((ROOT / "roles" / role / "README.md").read_text(encoding="utf-8"))["Catalog IDs"]
    missing = {i for i in _catalog_ids_of(role) if i not in section}
    assert not missing, f"roles/{role}/README.md, Catalog IDs: {sorted(missing)}"


def test_every_role_of_the_catalog_has_a_readme() -> None:
    catalog_roles = {str(t["automation"]["role"]) for t in AUTOMATED}
    assert catalog_roles <= set(ROLES)


def test_readme_is_a_short_map_that_points_to_the_quickstart_first() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    assert "make demo" in text and "make test" in text
    doc_links = re.findall(r"\]\((docs/[a-z_-]+\.md)", text)
    assert doc_links[:1] == ["docs/quickstart.md"], "the quick start is the first page the README points to"
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert pages <= set(doc_links), f"pages the README does not link: {sorted(pages - set(doc_links))}"


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped (letters of any script kept), spaces -> '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    found = {_slug(h) for h in re.findall(r"^#{1,6} (.*)$", text, flags=re.M)}
    return found | set(re.findall(r'<a id="([^"]+)"', text))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_and_section_links_resolve(page: Path) -> None:
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: {broken}"


def test_every_work_request_shown_in_the_docs_is_valid() -> None:
    """A ```yaml block with a top-level ``task:`` is a work request: it passes the same check as ``ops-driver plan``."""
    catalog = load_catalog()  # cached by the catalog module
    shown = []
    for page in PAGES:
        for block in re.findall(r"^```yaml\n(.*?)^```", page.read_text(encoding="utf-8"), flags=re.M | re.S):
            if re.search(r"^task: ", block, flags=re.M):
                shown.append(page.name)
                parse_request(block, catalog, source=str(page.relative_to(ROOT)))
    assert {"quickstart.md", "operators.md"} <= set(shown)
