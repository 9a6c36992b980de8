"""Where the project, the evidence and the sandbox live (overridable by environment variables)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ops_driver import untrusted
from ops_driver.errors import InvalidInput


def package_project() -> Path:
    """The folder above the ``ops_driver`` package: the project this installation belongs to (a checkout holds its
    playbooks and ``policy/change.yml`` there; an installed wheel does not)."""
    return Path(__file__).resolve().parents[1]


def project_root() -> Path:
    """The repository root: ``$OPS_PROJECT_DIR`` or :func:`package_project`."""
    env = os.environ.get("OPS_PROJECT_DIR")
    return Path(env).resolve() if env else package_project()


EVIDENCE_ENV = "OPS_EVIDENCE_DIR"
CONFIG_ENV = "OPS_DRIVER_CONFIG"
#: The installation's configuration files, the first that exists wins: ``<project>/ops-driver.yml`` (a checkout),
#: then ``/etc/ops-driver/config.yml`` (the machine). ``$OPS_DRIVER_CONFIG`` names one file instead of both.
SYSTEM_CONFIG = Path("/etc/ops-driver/config.yml")
CONFIG_KEYS = {"evidence_dir": "the evidence store: an absolute path, e.g. /var/lib/ops-driver/evidence"}
MAX_CONFIG_BYTES = 4096
LEDGER_FILE = "ledger.jsonl"  # ops_driver.evidence.ledger.LEDGER (the ledger imports this module, not back)


def config_files() -> list[Path]:
    """The configuration files looked at, in order: ``$OPS_DRIVER_CONFIG`` alone when set, else
    ``<project>/ops-driver.yml`` and :data:`SYSTEM_CONFIG`."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return [Path(env)]
    return [project_root() / "ops-driver.yml", SYSTEM_CONFIG]


def load_config() -> tuple[dict[str, str], Path | None]:
    """The installation's configuration and the file it came from (``({}, None)`` when there is none).

    The file is hostile input: at most :data:`MAX_CONFIG_BYTES`, a YAML mapping of the keys of :data:`CONFIG_KEYS`
    only, ``evidence_dir`` an absolute path without control characters. InvalidInput (exit 2) naming the file and
    the key otherwise; a ``$OPS_DRIVER_CONFIG`` that does not exist is an error too (a typo must not fall back).
    """
    explicit = CONFIG_ENV in os.environ and bool(os.environ[CONFIG_ENV])
    for path in config_files():
        if not explicit and not path.exists():
            continue
        raw = read_bytes(path, f"configuration file ({CONFIG_ENV})" if explicit else "configuration file",
                         MAX_CONFIG_BYTES)
        if len(raw) > MAX_CONFIG_BYTES:
            raise InvalidInput(f"{path}: larger than {MAX_CONFIG_BYTES} bytes; the configuration names a few paths")
        data = untrusted.load_yaml(raw, str(path)) if raw.strip() else {}
        if not isinstance(data, dict):
            raise InvalidInput(f"{path}: the configuration is a YAML mapping with the keys {', '.join(CONFIG_KEYS)}")
        out: dict[str, str] = {}
        for key, value in data.items():
            if key not in CONFIG_KEYS:
                raise InvalidInput(f"{path}: {key!r}: unknown key; the configuration has "
                                   + "; ".join(f"{k} ({v})" for k, v in CONFIG_KEYS.items()))
            bad = not isinstance(value, str) or not value.startswith("/")
            if bad or any(ord(c) < 32 or c == "\x7f" for c in value):
                raise InvalidInput(f"{path}: {key}: {value!r} is not valid; give {CONFIG_KEYS[key]}")
            out[key] = value
        return out, path
    return {}, None


def evidence_location() -> tuple[Path, str]:
    """Where the evidence store is and what said so, without checking that it exists:
    ``$OPS_EVIDENCE_DIR`` (relative to the working directory), else ``evidence_dir`` of the configuration file
    (:func:`load_config`), else ``<project>/evidence``: the same store from any working folder of an installation.
    InvalidInput (exit 2) for an invalid configuration file."""
    env = os.environ.get(EVIDENCE_ENV)
    if env:
        return Path(env).resolve(), f"${EVIDENCE_ENV}"
    config, source = load_config()
    if "evidence_dir" in config:
        return Path(config["evidence_dir"]).resolve(), f"evidence_dir in {source}"
    return project_root() / "evidence", "the default, <project>/evidence"


def evidence_dir() -> Path:
    """The evidence store (:func:`evidence_location`): a folder holding the ledger (``ledger.jsonl``).

    Raises InvalidInput (exit 2) when it holds no ledger, naming where the location came from and the fix: a new
    store (and its ledger) is started only by ``ops-driver evidence init``, never silently by a command run in
    some folder (the audit trail would split).
    """
    path, source = evidence_location()
    if (path / LEDGER_FILE).is_file():
        return path
    if path.is_dir() and any(path.iterdir()):
        raise InvalidInput(f"evidence store {path} ({source}) holds files but no {LEDGER_FILE}: the ledger is "
                           "missing; restore it from the backup (do not start a new one)")
    raise InvalidInput(f"no evidence store at {path} ({source}); start it once with `ops-driver evidence init`, "
                       f"or point ${EVIDENCE_ENV} or evidence_dir in {config_files()[0]} at the installation's store")


def init_evidence_store() -> tuple[Path, str]:
    """Create the evidence store of :func:`evidence_location` and its empty ledger (``ops-driver evidence init``).

    Returns ``(path, source)``. InvalidInput (exit 2) when a store is there already (its ledger exists) or the
    folder holds files (a store whose ledger went missing is restored, not started again).
    """
    path, source = evidence_location()
    if (path / LEDGER_FILE).exists():
        raise InvalidInput(f"evidence store {path} ({source}) exists already; nothing to do")
    if path.is_dir() and any(path.iterdir()):
        raise InvalidInput(f"{path} ({source}) is not empty and holds no {LEDGER_FILE}: not a new store; restore "
                           "the ledger from the backup, or choose an empty folder")
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / LEDGER_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
    os.close(fd)
    return path, source


def sandbox_dir() -> Path:
    """``$OPS_SANDBOX_DIR``, default ``<project>/.sandbox`` (pidfile, endpoint, logs of the sandbox)."""
    env = os.environ.get("OPS_SANDBOX_DIR")
    return Path(env).resolve() if env else project_root() / ".sandbox"


def schedule_dir() -> Path:
    """``$OPS_SCHEDULE_DIR``, default ``<project>/schedule`` (the annual schedules ``<YYYY>.yml``)."""
    env = os.environ.get("OPS_SCHEDULE_DIR")
    return Path(env).resolve() if env else project_root() / "schedule"


def catalog_dir() -> Path:
    return project_root() / "catalog"


def inventory_dir(environment: str) -> Path:
    return project_root() / "inventories" / environment


ENVIRONMENTS = ("prod", "dr", "maint", "sandbox")


def read_bytes(path: Path, what: str, limit: int, error: type[InvalidInput] = InvalidInput) -> bytes:
    """The bytes of ``path``, at most ``limit`` + 1 of them read (a larger file is refused by the caller's size
    check without being read whole); ``error`` (exit 2) naming the file when it is missing, not a regular file or
    unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO must not hang the command
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise error(f"{path}: the {what} is not a regular file")
            return f.read(limit + 1)
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except OSError as e:
        raise error(f"{path}: cannot read the {what}: {e.strerror or e}") from None


def read_text(path: Path, what: str, fix: str = "", error: type[InvalidInput] = InvalidInput) -> str:
    """The UTF-8 text of ``path``; ``error`` (an InvalidInput: exit 2) naming the file and ``what`` it should be
    when it is missing (with ``fix``, how to make it) or unreadable."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such {what}" + (f"; {fix}" if fix else "")) from None
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"{path}: cannot read the {what}: {e}") from None
