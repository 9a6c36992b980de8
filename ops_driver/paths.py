"""Where the project, the evidence and the sandbox live (overridable by environment variables)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ops_driver.errors import InvalidInput


def package_project() -> Path:
    """The folder above the ``ops_driver`` package: the project this installation belongs to (a checkout holds its
    playbooks and ``policy/change.yml`` there; an installed wheel does not)."""
    return Path(__file__).resolve().parents[1]


def project_root() -> Path:
    """The repository root: ``$OPS_PROJECT_DIR`` or :func:`package_project`."""
    env = os.environ.get("OPS_PROJECT_DIR")
    return Path(env).resolve() if env else package_project()


def evidence_dir() -> Path:
    """``$OPS_EVIDENCE_DIR``, default ``./evidence`` (relative to the working directory)."""
    return Path(os.environ.get("OPS_EVIDENCE_DIR", "evidence")).resolve()


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
