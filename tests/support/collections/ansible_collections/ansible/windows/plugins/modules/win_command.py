#!/usr/bin/python
# Test double of ansible.windows.win_command for the contract tests of roles/service_control (no Windows host
# here): accepts any arguments, appends {"module", "params", "check_mode"} as one JSON line to
# $OPS_CONTRACT_LOG and reports changed. Only tests put this collection on ANSIBLE_COLLECTIONS_PATH.
import json
import os

from ansible.module_utils.basic import AnsibleModule, _load_params

DOCUMENTATION = "module: win_command\nshort_description: test double\ndescription: [test double]\nauthor: [tests]\n"
RESULT = {}


def main():
    params = _load_params()
    module = AnsibleModule(argument_spec={k: dict(type="raw") for k in params if not k.startswith("_ansible")},
                           supports_check_mode=True)
    with open(os.environ["OPS_CONTRACT_LOG"], "a") as log:
        record = {"module": "win_command", "params": module.params, "check_mode": module.check_mode}
        log.write(json.dumps(record) + "\n")
    module.exit_json(changed=True, **RESULT)


if __name__ == "__main__":
    main()
