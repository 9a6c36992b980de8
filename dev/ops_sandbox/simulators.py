"""The SIMULATORS in ``tools/`` (sandbox and test tooling, not part of the ``ops_driver`` package), found and
imported by file path: the one way the sandbox, the tests, the bench and the molecule scenarios reach them.

* ``esa``: ``tools/esa_sim/esasim.py``, the Cisco ESA (AsyncOS) CLI over SSH (a server: ``esasim.py serve``);
* ``datastage``: ``tools/datastage_sim/dssim.py``, IBM DataStage ``istool`` / ``dsjob`` (the inventory of the
  sandbox runs the executables beside it, which import it themselves).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from ops_driver.errors import RunFailed
from ops_driver.paths import project_root

#: simulator → its module file, relative to ``<project>/tools``.
SIMULATORS = {"esa": Path("esa_sim") / "esasim.py", "datastage": Path("datastage_sim") / "dssim.py"}


def path(name: str) -> Path:
    """The module file of simulator ``name`` (a key of :data:`SIMULATORS`; ``KeyError`` otherwise) under the
    project's ``tools/`` (see ``paths.project_root``). It may be missing: :func:`load` says so."""
    return project_root() / "tools" / SIMULATORS[name]


def load(name: str) -> ModuleType:
    """Simulator ``name`` imported afresh from :func:`path` (module name: the file's stem, ``esasim`` or
    ``dssim``, registered in ``sys.modules`` unless one is there already). Raises ``RunFailed`` when the file is
    missing."""
    file = path(name)
    spec = importlib.util.spec_from_file_location(file.stem, file)
    if spec is None or spec.loader is None or not file.is_file():
        raise RunFailed(f"sandbox: {file} is missing")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(file.stem, module)
    spec.loader.exec_module(module)
    return module
