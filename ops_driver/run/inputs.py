"""What a run reads from the repository, bound by the plan: the apply runs exactly the reviewed inputs.

A plan records in its manifest the SHA-256 of every file its playbook run reads from the project (:func:`bind`);
the apply computes them again and refuses (exit 4) when any file was added, removed or changed, naming it
(:func:`check`). The rule of what is read (simple and sound rather than exact):

- the task's playbook and what it imports or includes from the project (``import_playbook``, ``include_tasks``,
  ``import_tasks``, ``vars_files``, ``include_vars`` with a literal file name);
- every role it uses, whole (``roles/<name>/``): ``roles:`` of a play, ``include_role`` / ``import_role`` in the
  playbook or in a role, and role ``dependencies`` in ``meta/main.yml``, followed transitively; a templated role
  name (``{{ … }}``) binds every role of ``roles/``; a collection role (``ns.coll.role``) is not in the project
  (the collection versions are in ``versions``);
- every module, module utility, filter, action and doc-fragment plugin: all of ``library/``, ``module_utils/``,
  ``filter_plugins/``, ``action_plugins/``, ``doc_fragments/``, and ``ansible.cfg``;
- the environment's inventory, whole (``inventories/<env>/``), the desired-state files (``desired_state/``),
  the change policy (``policy/change.yml``) and the task's catalog file (``catalog/<area>.yml``);
- for a scheduled task (catalog ``automation.schedule``), the schedule folder (``schedule/`` or
  ``$OPS_SCHEDULE_DIR``, keyed ``$OPS_SCHEDULE_DIR/<name>`` when outside the project).

``__pycache__`` folders and ``*.pyc`` files are skipped (caches that Python rewrites). A vault password file
(``vault-password*``, ``*vault_pass*``) is recorded as present (:data:`UNHASHED`), not hashed: its hash would be a
way to test guesses of the password; the vault files it opens are hashed, so a new password cannot change
what they say without changing them.

With the map go one combined digest (:func:`combined`), the project's commit and whether the tree is clean
(``git status --porcelain`` of those paths, one ``git`` call) and, when ``$OPS_PROJECT_DIR`` moves the project
somewhere else, that override (refused outside the sandbox environment: :func:`project_override`).

Reference points: Terraform binds a saved plan to the state's serial and lineage (and refuses a changed state),
not to changes made outside it; this binds the plan to the files too.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ops_driver.catalog import AREA_FILES, Task
from ops_driver.errors import PolicyRefused
from ops_driver.paths import package_project, project_root, schedule_dir

UNHASHED = "secret: present, not hashed"
PLUGIN_DIRS = ("library", "module_utils", "filter_plugins", "action_plugins", "doc_fragments")
PROJECT_ENV = "OPS_PROJECT_DIR"
SANDBOX = "sandbox"
_ROLE_KEYS = {f"{p}{k}" for p in ("", "ansible.builtin.", "ansible.legacy.") for k in ("include_role", "import_role")}
_FILE_KEYS = {f"{p}{k}" for p in ("", "ansible.builtin.", "ansible.legacy.")
              for k in ("import_playbook", "include_tasks", "import_tasks", "include_vars", "include")}
_SHOWN = 12  # file names listed in a refusal before "and N more"


@dataclass(frozen=True)
class Inputs:
    """The inputs of one run. ``files``: project-relative path → SHA-256 hex (or :data:`UNHASHED`); ``digest``:
    :func:`combined` of them; ``commit``: ``git rev-parse HEAD`` of the project or ``unknown``; ``clean``: no
    uncommitted or untracked change under those paths (None: not a git checkout); ``dirty``: those paths;
    ``project_dir``: the project folder; ``overrides``: environment variables that moved what is read."""

    files: dict[str, str]
    digest: str
    commit: str
    clean: bool | None
    dirty: list[str]
    project_dir: str
    overrides: list[str]

    def manifest(self) -> dict[str, Any]:
        """The manifest keys: ``inputs``, ``inputs_sha256``, ``project_commit``, ``project_clean``,
        ``project_dirty``, ``project_dir`` and, when any, ``overrides``."""
        out: dict[str, Any] = {"inputs": dict(self.files), "inputs_sha256": self.digest,
                               "project_commit": self.commit, "project_clean": self.clean,
                               "project_dirty": list(self.dirty), "project_dir": self.project_dir}
        if self.overrides:
            out["overrides"] = list(self.overrides)
        return out


def combined(files: Mapping[str, str]) -> str:
    """One SHA-256 over the map: of the lines ``<sha256>  <path>\\n`` sorted by path (``sha256sum``'s format)."""
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(f"{files[path]}  {path}\n".encode())
    return h.hexdigest()


def _is_secret(name: str) -> bool:
    low = name.lower()
    return low.startswith("vault-password") or "vault_pass" in low


def _walk(folder: Path) -> Iterator[Path]:
    """Every file under ``folder`` (sorted; ``__pycache__`` and ``*.pyc`` skipped); nothing when it is absent."""
    for top, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            if not f.endswith(".pyc"):
                yield Path(top, f)


_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc]
    """A safe loader (libyaml's when present) that reads any tag (``!vault``, ``!unsafe``) as a plain value: only
    names are looked for."""


def _any_tag(loader: Any, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


_Loader.add_multi_constructor("!", _any_tag)


def _load(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - a SafeLoader
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None  # still hashed: an unreadable file refuses the run elsewhere, and any edit is seen here


def _refs(data: Any) -> tuple[set[str], set[str]]:
    """(role names, file names) that a playbook, task or meta document refers to."""
    roles: set[str] = set()
    files: set[str] = set()

    def role_name(item: Any) -> str | None:
        if isinstance(item, str):
            return item
        if isinstance(item, dict):
            value = item.get("role", item.get("name"))
            return value if isinstance(value, str) else None
        return None

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if key in ("roles", "dependencies") and isinstance(value, list):
                roles.update(n for n in map(role_name, value) if n)
            elif key in _ROLE_KEYS:
                name = role_name(value)
                if name:
                    roles.add(name)
            elif key in _FILE_KEYS:
                name = value.get("file") if isinstance(value, dict) else value
                if isinstance(name, str):
                    files.add(name)
            elif key == "vars_files" and isinstance(value, list):
                files.update(v for v in value if isinstance(v, str))
            visit(value)

    visit(data)
    return roles, files


def _used(root: Path, playbook: Path) -> tuple[set[Path], set[Path]]:
    """(files, role folders) that ``playbook`` reads from the project, followed transitively (module docstring)."""
    files: set[Path] = set()
    role_dirs: set[Path] = set()
    todo = [playbook]
    roles_root = root / "roles"
    while todo:
        path = todo.pop()
        if path in files:
            continue
        files.add(path)
        roles, refs = _refs(_load(path)) if path.suffix in (".yml", ".yaml") else (set(), set())
        for ref in refs:
            if "{{" in ref:
                continue  # a templated file name: its folder is a role (bound whole) or the playbook's own
            for base in (path.parent, path.parent.parent / "tasks", path.parent.parent / "vars"):
                candidate = (base / ref).resolve()
                if candidate.is_file() and candidate.is_relative_to(root):
                    todo.append(candidate)
                    break
        for name in roles:
            if "{{" in name:
                found = [d for d in sorted(roles_root.iterdir()) if d.is_dir()] if roles_root.is_dir() else []
            else:
                found = [d for d in (roles_root / name, playbook.parent / "roles" / name) if d.is_dir()]
            for d in found:
                if d in role_dirs:
                    continue
                role_dirs.add(d)
                todo.extend(p for p in _walk(d) if p.suffix in (".yml", ".yaml")
                            and p.relative_to(d).parts[0] in ("tasks", "handlers", "meta"))
    return files, role_dirs


def project_override(environment: str) -> list[str]:
    """``$OPS_PROJECT_DIR`` when it moves the project away from the one this package belongs to: refused outside
    the sandbox environment (PolicyRefused, exit 4: the policy and the playbooks are the reviewed ones), recorded
    in the sandbox (``["OPS_PROJECT_DIR=<path>"]``). An installed package (no ``policy/change.yml`` beside it)
    finds its project only this way: allowed and not an override."""
    value = os.environ.get(PROJECT_ENV)
    if not value:
        return []
    own = package_project()
    if Path(value).resolve() == own or not (own / "policy" / "change.yml").is_file():
        return []
    if environment != SANDBOX:
        raise PolicyRefused(f"{PROJECT_ENV}={value}: the project (its playbooks and policy/change.yml) is the one "
                            f"ops-driver belongs to ({own}) outside the {SANDBOX} environment; unset {PROJECT_ENV}")
    return [f"{PROJECT_ENV}={value}"]


def _git_start(root: Path, paths: Iterable[str]) -> subprocess.Popen[bytes] | None:
    """Start ``git status --porcelain=v2 --branch -z`` of ``paths`` in the project (None when git cannot be
    started); :func:`_git_result` reads it."""
    try:
        return subprocess.Popen(["git", "-C", str(root), "status", "--porcelain=v2", "--branch", "-z",
                                 "--untracked-files=all", "--", *paths], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except OSError:
        return None


def _git_result(proc: subprocess.Popen[bytes] | None) -> tuple[str, bool | None, list[str]]:
    """(commit, clean, dirty paths) from the ``git status`` started by :func:`_git_start`; ``("unknown", None, [])``
    when it could not start, failed (not a git checkout) or took over 30 s (then it is killed)."""
    if proc is None:
        return "unknown", None, []
    try:
        raw, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return "unknown", None, []
    if proc.returncode != 0:
        return "unknown", None, []
    out = raw.decode("utf-8", "replace")
    commit, dirty = "unknown", []
    records = out.split("\0")
    i = 0
    while i < len(records):
        rec = records[i]
        i += 1
        if rec.startswith("# branch.oid "):
            commit = rec.split()[2]
        elif rec[:2] in ("1 ", "u "):
            dirty.append(rec.split(" ", 8 if rec[0] == "1" else 10)[-1])
        elif rec.startswith("2 "):
            dirty.append(rec.split(" ", 9)[-1])
            i += 1  # the original path of a rename follows
        elif rec.startswith("? "):
            dirty.append(rec[2:])
    return commit, not dirty, sorted(dirty)


def collect(root: Path, playbook: str, environment: str, catalog_file: str, schedule: Path | None = None,
            overrides: list[str] | None = None) -> Inputs:
    """The inputs of a run of ``playbook`` (project-relative) in ``environment``, with the catalog file
    ``catalog_file`` (project-relative) and, for a scheduled task, the ``schedule`` folder (module docstring)."""
    root = root.resolve()
    files, role_dirs = _used(root, root / playbook)
    folders = sorted(role_dirs) + [root / n for n in (*PLUGIN_DIRS, f"inventories/{environment}", "desired_state")]
    singles = sorted(files) + [p for p in (root / "ansible.cfg", root / "policy" / "change.yml", root / catalog_file)
                               if p.is_file()]
    if schedule is not None:
        folders.append(schedule)
    paths = list(singles)
    for d in folders:
        paths.extend(_walk(d))
    # git looks at the same files in a process of its own while they are hashed here (2-3 ms of a plan, issue #28)
    git = _git_start(root, [str(p.relative_to(root)) for p in (*singles, *folders) if p.is_relative_to(root)])
    out: dict[str, str] = {}
    for p in paths:
        try:
            key = str(p.relative_to(root))
        except ValueError:
            key = f"$OPS_SCHEDULE_DIR/{p.relative_to(schedule)}" if schedule is not None else str(p)
        if key not in out:
            out[key] = UNHASHED if _is_secret(p.name) else hashlib.sha256(p.read_bytes()).hexdigest()
    commit, clean, dirty = _git_result(git)
    return Inputs(files=out, digest=combined(out), commit=commit, clean=clean, dirty=dirty, project_dir=str(root),
                  overrides=list(overrides or []))


def bind(task: Task, environment: str) -> Inputs:
    """The inputs of a plan or an apply of ``task`` in ``environment`` from the project as it is now. Raises
    PolicyRefused (exit 4) for ``$OPS_PROJECT_DIR`` moving the project outside the sandbox
    (:func:`project_override`)."""
    assert task.automation is not None
    overrides = project_override(environment)
    return collect(project_root(), task.automation.playbook, environment, f"catalog/{AREA_FILES[task.area]}",
                   schedule_dir() if task.automation.schedule else None, overrides)


def warnings(manifest: Mapping[str, Any]) -> list[str]:
    """Warnings for report.md from a run's manifest keys: overrides in effect, a declared operator, uncommitted
    changes among the inputs."""
    out = [f"override in effect (sandbox only): {o}" for o in manifest.get("overrides") or []]
    if manifest.get("operator_source") == "declared":
        out.append(f"the operator {manifest.get('operator')} was declared (--operator / OPS_OPERATOR, sandbox only); "
                   f"the OS account was {manifest.get('os_account')}")
    dirty = manifest.get("project_dirty") or []
    if dirty:
        out.append(f"{len(dirty)} input file(s) differ from the commit {str(manifest.get('project_commit'))[:12]} "
                   f"(uncommitted or untracked): {', '.join(dirty[:_SHOWN])}"
                   + (f" and {len(dirty) - _SHOWN} more" if len(dirty) > _SHOWN else ""))
    return out


def differences(planned: Mapping[str, str], now: Mapping[str, str]) -> dict[str, list[str]]:
    """``{"added", "removed", "changed"}``: the file names (sorted) that differ between two input maps."""
    return {"added": sorted(set(now) - set(planned)), "removed": sorted(set(planned) - set(now)),
            "changed": sorted(k for k in set(planned) & set(now) if planned[k] != now[k])}


def check(plan_id: str, plan_manifest: Mapping[str, Any], now: Inputs) -> None:
    """Refuse (PolicyRefused, exit 4) an apply whose inputs are not the plan's: a plan without ``inputs`` (made
    before they were bound), another project folder, or any file added, removed or changed (named)."""
    planned = plan_manifest.get("inputs")
    if not isinstance(planned, dict):
        raise PolicyRefused(f"plan {plan_id} does not record its inputs (made by an older ops-driver): what it "
                            "reviewed cannot be checked; plan again")
    if plan_manifest.get("project_dir") not in (None, now.project_dir):
        raise PolicyRefused(f"plan {plan_id} was made from the project {plan_manifest.get('project_dir')}, the apply "
                            f"would run from {now.project_dir}; apply from the same project, or plan again")
    diff = differences({str(k): str(v) for k, v in planned.items()}, now.files)
    if not any(diff.values()):
        return
    parts = []
    for what, names in diff.items():
        if names:
            shown = ", ".join(names[:_SHOWN]) + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")
            parts.append(f"{what} {shown}")
    raise PolicyRefused(f"plan {plan_id}: the files it read changed since the plan, so what was reviewed is not what "
                        f"would run: {'; '.join(parts)}; put them back as planned, or plan again (and have the new "
                        "plan approved)")
