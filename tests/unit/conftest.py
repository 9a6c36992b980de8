"""Unit tests import the project's modules and module_utils by the names Ansible gives them, loaded once here.

``from ansible.module_utils import ops_backup`` imports ``module_utils/ops_backup.py`` and
``from library import ec2_power`` imports ``library/ec2_power.py`` (see tests/support/modules.py). This file
runs before any test module is imported, so those imports work at the top of every test file.
"""

from __future__ import annotations

from tests.support.modules import install

install()
