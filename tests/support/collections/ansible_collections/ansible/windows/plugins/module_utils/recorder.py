# Body of the recording test doubles of ansible.windows modules (tests only): accept any arguments, append
# {"module", "params", "check_mode"} as one JSON line to $OPS_CONTRACT_LOG, and answer.
#
# The answer is the module's own default (``result``: what the real module returns when all is well) unless
# $OPS_CONTRACT_ANSWERS names a JSON file {module name: answer or [answer, ...]}: a list gives the answer of each
# call in turn (the n-th call of that module in the log gets the n-th, the last one repeats), so a test scripts a
# check that fails twice and then passes, or never passes, without any sleep. An answer is the module's return
# values; "failed": true makes it fail with its "msg", and "changed" overrides the default (``changed``: a bool or a
# function of the module's parameters).
import json
import os

from ansible.module_utils.basic import AnsibleModule, _load_params


def _scripted(name, earlier):
    path = os.environ.get("OPS_CONTRACT_ANSWERS")
    if not path:
        return None
    with open(path) as f:
        answers = json.load(f).get(name)
    if isinstance(answers, list):
        return answers[min(earlier, len(answers) - 1)] if answers else None
    return answers


def record(name, result=None, changed=True):
    params = _load_params()
    module = AnsibleModule(argument_spec={k: dict(type="raw") for k in params if not k.startswith("_ansible")},
                           supports_check_mode=True)
    log = os.environ["OPS_CONTRACT_LOG"]
    earlier = 0
    if os.path.exists(log):
        with open(log) as f:
            earlier = sum(1 for line in f if json.loads(line)["module"] == name)
    with open(log, "a") as f:
        f.write(json.dumps({"module": name, "params": module.params, "check_mode": module.check_mode}) + "\n")
    if callable(changed):
        changed = changed(module.params)
    answer = dict(result or {})
    scripted = _scripted(name, earlier)
    if scripted is not None:
        answer = dict(scripted)
    changed = answer.pop("changed", changed)
    if answer.pop("failed", False):
        module.fail_json(msg=answer.pop("msg", "failed (scripted answer)"), changed=changed, **answer)
    module.exit_json(changed=changed, **answer)
