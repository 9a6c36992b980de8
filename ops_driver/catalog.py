"""The operations catalog: every row of the seed lists, as typed tasks.

Source: ``catalog/*.yml`` (one document per seed list, validated by ``catalog/schema/catalog.schema.json``).
Seeds: ``000_b531716006324310.txt`` (CORE, MYNA, COMM, INFO, STAT) and ``001_2dc6b9f13ceddef2.txt`` (HELP).
"""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ops_driver.errors import InvalidInput
from ops_driver.paths import catalog_dir

AREAS = ("CORE", "MYNA", "COMM", "INFO", "STAT", "HELP")
AREA_FILES = {"CORE": "core.yml", "MYNA": "myna.yml", "COMM": "comm.yml", "INFO": "info.yml",
              "STAT": "stat.yml", "HELP": "help.yml"}

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Change classes, lowest first: a work request may raise its task's class, never lower it (``request.py``).
CHANGE_CLASSES = ("standard", "minor", "major", "emergency")
#: Time limit of one playbook run (plan or apply), in minutes: the catalog-wide default for a task without
#: ``automation.timeout_minutes``, and the maximum a catalog entry or a work request may set
#: (``catalog/schema/catalog.schema.json`` says the same maximum; a unit test holds them equal).
TIMEOUT_MINUTES_DEFAULT = 60
TIMEOUT_MINUTES_MAX = 24 * 60


@dataclass(frozen=True)
class Param:
    """One typed parameter of an automated task (``automation.params`` in the catalog)."""

    name: str
    type: str
    description: str
    required: bool = False
    default: Any = None
    elements: str | None = None
    choices: list[Any] | None = None
    pattern: str | None = None
    minimum: int | None = None
    #: The minimum in the sandbox environment, whose simulators (moto) change state at once: a wait there may be
    #: a few seconds, so tests of timeouts do not wait for the production minimum. Elsewhere ``minimum`` holds.
    sandbox_minimum: int | None = None
    maximum: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    secret: bool = False
    #: What ``pattern`` means, in words, for an error (request_errors.words): the regular expression is never shown.
    pattern_words: str | None = None


@dataclass(frozen=True)
class Automation:
    """The ``automation`` block of an automated task.

    ``read_only``: the task must change nothing; a plan or apply that reports a change is refused
    (``operations``). ``timeout_minutes``: the time limit of one playbook run of the task, 1 …
    :data:`TIMEOUT_MINUTES_MAX`; a work request may set another (``request.py``).
    """

    playbook: str
    tags: list[str]
    change_class: str
    params: list[Param]
    role: str | None = None
    read_only: bool = False
    warnings_en: list[str] = field(default_factory=list)
    schedule: str | None = None  # name of the annual schedule (schedule/rules.yml) the task must run on
    timeout_minutes: int = TIMEOUT_MINUTES_DEFAULT

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


@dataclass(frozen=True)
class Task:
    """One catalog row. ``raw`` keeps the YAML mapping for ``catalog show``."""

    id: str
    area: str
    category: str
    name_ja: str
    name_en: str
    summary_ja: str
    cycle: str
    cycle_ja: str
    raw: dict[str, Any]
    automation: Automation | None = None

    @property
    def automated(self) -> bool:
        return self.automation is not None


@dataclass(frozen=True)
class Catalog:
    tasks: dict[str, Task]

    def get(self, task_id: str) -> Task:
        """Return the task; raise InvalidInput naming the field when the ID is unknown."""
        task = self.tasks.get(task_id)
        if task is None:
            hint = ""
            upper = task_id.upper() if isinstance(task_id, str) else ""
            if upper in self.tasks:
                hint = f" (IDs are upper case: {upper})"
            raise InvalidInput(f"task: unknown catalog ID {task_id!r}{hint}; "
                               "list them with `ops-driver catalog list`")
        return task

    def select(self, area: str | None = None, automated: bool = False) -> list[Task]:
        out = [t for t in self.tasks.values() if (area is None or t.area == area.upper())
               and (not automated or t.automated)]
        return sorted(out, key=lambda t: (AREAS.index(t.area), t.id))

    def search(self, text: str, area: str | None = None, automated: bool = False) -> list[Task]:
        """The tasks (of :meth:`select`) whose ID, names or summaries in Japanese and English hold every word of
        ``text`` (split on white space, the ideographic space too): ``インスタンス停止``, ``ec2 stop``,
        ``info-005``. Compared after NFKC and case folding (full-width ``ＥＣ２`` is ``ec2``). Best first: an
        ID, then a name holding every word, then the rest, each in catalog order. InvalidInput (exit 2) for an
        empty ``text``."""
        words = _folded(text).split()
        if not words:
            raise InvalidInput("catalog search: give a word to look for (an ID, or a word of a task's name or "
                               "summary, in Japanese or English)")

        def rank(t: Task) -> int | None:
            names = _folded(f"{t.id}\n{t.name_ja}\n{t.name_en}")
            rest = _folded(f"{t.summary_ja}\n{t.raw.get('summary_en') or ''}\n{t.category}")
            if not all(w in names or w in rest for w in words):
                return None
            return 0 if any(w in _folded(t.id) for w in words) else 1 if all(w in names for w in words) else 2

        ranked = [(r, t) for t in self.select(area, automated) if (r := rank(t)) is not None]
        return [t for _, t in sorted(ranked, key=lambda rt: rt[0])]


def _folded(text: str) -> str:
    """The search form of a text: NFKC, case folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def _automation(raw: dict[str, Any] | None) -> Automation | None:
    if not raw:
        return None
    params = [Param(**p) for p in raw.get("params", [])]
    return Automation(playbook=raw["playbook"], tags=list(raw["tags"]), change_class=raw["change_class"],
                      params=params, role=raw.get("role"), read_only=bool(raw.get("read_only", False)),
                      warnings_en=list(raw.get("warnings_en", [])), schedule=raw.get("schedule"),
                      timeout_minutes=int(raw.get("timeout_minutes", TIMEOUT_MINUTES_DEFAULT)))


def cache_dir() -> Path | None:
    """Where the parsed catalog is cached: ``$OPS_CACHE_DIR``, else ``$XDG_CACHE_HOME/ops-driver``, else
    ``~/.cache/ops-driver``; None when ``OPS_CACHE_DIR`` is empty (no cache)."""
    given = os.environ.get("OPS_CACHE_DIR")
    if given is not None:
        return Path(given) if given else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ops-driver"


def load_documents(directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """Read the six catalog YAML documents. Returns ``{area: document}``; raises InvalidInput if one is missing.

    Parsing the YAML (about 8,600 objects) costs some 40-80 ms of CPU, on every command; the result is cached as
    JSON (3 ms to read) in :func:`cache_dir` under the SHA-256 of the six files' contents, so any edit of the catalog
    misses the cache and parses again. The cache is written only when the documents survive a JSON round trip
    unchanged (no YAML-only type such as a date); a cache that cannot be read or written is ignored. The cache is
    as trusted as the user's home (as the code and the venv are); ``OPS_CACHE_DIR=`` (empty) turns it off.
    """
    directory = directory or catalog_dir()
    texts: dict[str, str] = {}
    for area, name in AREA_FILES.items():
        path = directory / name
        try:
            texts[area] = path.read_text(encoding="utf-8")
        except OSError as e:
            raise InvalidInput(f"catalog: cannot read {path}: {e.strerror}") from e
    digest = hashlib.sha256()
    for area in AREA_FILES:
        digest.update(area.encode() + b"\0" + texts[area].encode("utf-8") + b"\0")
    cache = cache_dir()
    cached = cache / f"catalog-{digest.hexdigest()}.json" if cache else None
    if cached is not None:
        try:
            docs: dict[str, dict[str, Any]] = json.loads(cached.read_text(encoding="utf-8"))
            if isinstance(docs, dict) and list(docs) == list(AREA_FILES):
                return docs
        except (OSError, ValueError):
            pass  # not cached yet, or unreadable: parse
    docs = {area: yaml.load(text, Loader=_Loader) for area, text in texts.items()}  # noqa: S506 - a SafeLoader
    if cached is not None:
        _write_cache(cached, docs)
    return docs


def _write_cache(path: Path, docs: dict[str, dict[str, Any]]) -> None:
    """Write ``docs`` as JSON to ``path`` (atomically, 0600) and remove older catalog caches; never raises."""
    try:
        text = json.dumps(docs, ensure_ascii=False)
    except (TypeError, ValueError):
        return  # a YAML-only type (a date): JSON cannot hold it
    if json.loads(text) != docs:
        return  # JSON would not give the same documents back
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
        for old in path.parent.glob("catalog-*.json"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        pass


def schema(directory: Path | None = None) -> dict[str, Any]:
    directory = directory or catalog_dir()
    result: dict[str, Any] = json.loads((directory / "schema" / "catalog.schema.json").read_text(encoding="utf-8"))
    return result


def validate_documents(docs: dict[str, dict[str, Any]], directory: Path | None = None) -> list[str]:
    """Validate every document against the JSON Schema; return messages (empty when valid)."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema(directory))
    problems: list[str] = []
    seen: set[str] = set()
    for area, doc in docs.items():
        for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
            where = ".".join(str(p) for p in err.absolute_path) or "(document)"
            problems.append(f"{AREA_FILES[area]}: {where}: {err.message}")
        for task in (doc or {}).get("tasks", []) or []:
            tid = task.get("id")
            if tid in seen:
                problems.append(f"{AREA_FILES[area]}: duplicate task ID {tid}")
            seen.add(tid)
            if task.get("area") != area:
                problems.append(f"{AREA_FILES[area]}: {tid} has area {task.get('area')}, expected {area}")
    return problems


def load_catalog(directory: Path | None = None) -> Catalog:
    """Load the catalog (no schema validation: that runs in the tests and in ``catalog validate``)."""
    tasks: dict[str, Task] = {}
    for area, doc in load_documents(directory).items():
        for raw in doc.get("tasks", []):
            tasks[raw["id"]] = Task(id=raw["id"], area=area, category=raw["category"], name_ja=raw["name_ja"],
                                    name_en=raw["name_en"], summary_ja=raw["summary_ja"], cycle=raw["cycle"],
                                    cycle_ja=raw["cycle_ja"], raw=raw, automation=_automation(raw.get("automation")))
    return Catalog(tasks=tasks)
