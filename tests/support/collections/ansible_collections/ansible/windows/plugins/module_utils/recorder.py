# Body of the recording test doubles of ansible.windows modules (tests only): accept any arguments, append
# {"module", "params", "check_mode"} as one JSON line to $OPS_CONTRACT_LOG, report changed with ``result``.
import json
import os

from ansible.module_utils.basic import AnsibleModule, _load_params


def record(name, result=None):
    params = _load_params()
    module = AnsibleModule(argument_spec={k: dict(type="raw") for k in params if not k.startswith("_ansible")},
                           supports_check_mode=True)
    with open(os.environ["OPS_CONTRACT_LOG"], "a") as log:
        log.write(json.dumps({"module": name, "params": module.params, "check_mode": module.check_mode}) + "\n")
    module.exit_json(changed=True, **(result or {}))
