#!/usr/bin/python
# Test double of ansible.windows.win_uri for the contract tests of roles/service_control (no Windows host here);
# records its arguments (plugins/module_utils/recorder.py). Only tests put this collection on the path.
from ansible_collections.ansible.windows.plugins.module_utils.recorder import record

DOCUMENTATION = "module: win_uri\nshort_description: test double\ndescription: [test double]\nauthor: [tests]\n"

if __name__ == "__main__":
    record("win_uri", {"status_code": 200, "content": "ok"}, changed=False)  # changed only with dest
