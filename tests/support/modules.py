"""Imports the project's Ansible modules and module_utils in a Python process, the way Ansible imports them.

Ansible runs a module of ``library/`` with the files of ``module_utils/`` it imports packed beside it, as
``ansible.module_utils.<name>`` (the ``module_utils`` setting of ansible.cfg). ``install()`` gives a test or
bench process the same names, once: it adds ``module_utils/`` to the search path of the ``ansible.module_utils``
package (after Ansible's own folder, so that no name of Ansible's is shadowed) and ``library/`` to the search
path of a ``library`` package. Then ``from ansible.module_utils import ops_paths`` and
``from library import ec2_power`` import the project's files, and a module_util that imports another
(``from ansible.module_utils.ops_paths import ...``) finds it as it does under Ansible.

``tests/unit/conftest.py`` calls ``install()`` for every unit test; a child process (a test's or the NAS
bench's) puts the project root on ``sys.path`` and calls it too.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE_UTILS = ROOT / "module_utils"
LIBRARY = ROOT / "library"


def install() -> None:
    """Make ``ansible.module_utils.<name>`` and ``library.<name>`` import the project's files. Idempotent."""
    import ansible.module_utils as utils

    if str(MODULE_UTILS) not in utils.__path__:
        utils.__path__.append(str(MODULE_UTILS))
    library = sys.modules.get("library")
    if library is None:
        library = types.ModuleType("library", "The project's Ansible modules (library/), see tests/support/modules.py")
        library.__path__ = []
        sys.modules["library"] = library
    if str(LIBRARY) not in library.__path__:
        library.__path__.append(str(LIBRARY))


def module_util(name: str) -> types.ModuleType:
    """``module_utils/<name>.py`` as ``ansible.module_utils.<name>`` (imported once, then the same object)."""
    install()
    return importlib.import_module("ansible.module_utils." + name)


def library_module(name: str) -> types.ModuleType:
    """``library/<name>.py`` as ``library.<name>`` (imported once, then the same object)."""
    install()
    return importlib.import_module("library." + name)
