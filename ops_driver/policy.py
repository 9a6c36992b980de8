"""Guards around ``apply``: a plan is applied once, while fresh, intact, under an environment lock.

Every refusal is a :class:`PolicyRefused` (exit 4).
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import PolicyRefused

DEFAULT_PLAN_MAX_AGE_S = 24 * 3600


def plan_max_age_s() -> int:
    """``$OPS_PLAN_MAX_AGE`` in seconds (default 86400: a plan is good for one day)."""
    try:
        return int(os.environ.get("OPS_PLAN_MAX_AGE", DEFAULT_PLAN_MAX_AGE_S))
    except ValueError:
        return DEFAULT_PLAN_MAX_AGE_S


def check_plan(manifest: dict[str, Any], now: dt.datetime, applies: list[dict[str, Any]]) -> None:
    """Refuse a plan that failed, is older than the maximum age, or was already applied.

    ``applies`` are the manifests of the apply bundles that name this plan.
    """
    run_id = manifest.get("run_id")
    if manifest.get("status") != "planned":
        raise PolicyRefused(f"plan {run_id} ended {manifest.get('status')!r}; only a successful plan can be "
                            "applied: fix the request and plan again")
    ended = dt.datetime.fromisoformat(str(manifest["ended_at"]).replace("Z", "+00:00"))
    age = (now - ended).total_seconds()
    if age > plan_max_age_s():
        raise PolicyRefused(f"plan {run_id} is stale: made {int(age)} s ago, the limit is {plan_max_age_s()} s "
                            "(OPS_PLAN_MAX_AGE); plan again")
    if applies:
        done = ", ".join(f"{a.get('run_id')} ({a.get('status')})" for a in applies)
        raise PolicyRefused(f"plan {run_id} was already applied by {done}; plan again for a new run")


@contextmanager
def environment_lock(lock_dir: Path, environment: str, holder: str) -> Iterator[None]:
    """Hold an exclusive lock for ``environment`` during an apply; refuse (exit 4) when another holds it."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"{environment}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EACCES):
                other = path.read_text(encoding="utf-8", errors="replace").strip() or "another run"
                raise PolicyRefused(f"environment {environment} is locked by {other}; wait for it to end") from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, holder.encode())
        yield
    finally:
        os.close(fd)
