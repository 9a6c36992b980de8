#!/usr/bin/python
# Test double of ansible.windows.win_powershell for the contract tests of roles/service_control (no Windows host
# here); records its arguments (plugins/module_utils/recorder.py). Only tests put this collection on the path.
# Like the real module (win_powershell.ps1: $Ansible.Changed starts true) it reports changed unless the script
# sets $Ansible.Changed = $false; by default it answers a process check with one running process.
from ansible_collections.ansible.windows.plugins.module_utils.recorder import record

DOCUMENTATION = "module: win_powershell\nshort_description: test double\ndescription: [test double]\nauthor: [tests]\n"

if __name__ == "__main__":
    record("win_powershell", {"result": {"pids": [4242], "names": ["w3wp.exe"]}, "output": [], "error": [],
                              "host_out": "", "host_err": ""},
           changed=lambda params: "$Ansible.Changed = $false" not in str(params.get("script") or ""))
