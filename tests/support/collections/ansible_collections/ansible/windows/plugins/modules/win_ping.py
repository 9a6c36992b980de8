#!/usr/bin/python
# Test double of ansible.windows.win_ping for the contract tests of roles/service_control (no Windows host here);
# records its arguments (plugins/module_utils/recorder.py). Only tests put this collection on the path.
from ansible_collections.ansible.windows.plugins.module_utils.recorder import record

DOCUMENTATION = "module: win_ping\nshort_description: test double\ndescription: [test double]\nauthor: [tests]\n"

if __name__ == "__main__":
    record("win_ping", {"ping": "pong"}, changed=False)
