# Test double of a remote connection for the contract tests of roles/service_control: it runs modules on this
# machine like ansible.builtin.local, but under its own name, so the role treats the host as a remote server
# (the role never reboots a host reached with the local connection). Only those tests load it.
from __future__ import annotations

from ansible.plugins.connection.local import Connection as LocalConnection

DOCUMENTATION = """
name: contract_local
short_description: local execution under another name (tests only)
description: [Runs modules locally; used by tests that check module arguments for a remote host.]
author: [ops-driver tests]
"""


class Connection(LocalConnection):
    transport = "contract_local"
