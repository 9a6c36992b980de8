# Body of the recording test doubles of awx.awx (tests only): validate the task's arguments against the real
# module's argument spec ($OPS_AWX_SPECS: ansible-doc --json of the installed awx.awx), append
# {"module", "params"} as one JSON line to $OPS_CONTRACT_LOG, report changed; fail with the validator's messages.
import json
import os

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.json import AnsibleJSONEncoder
from ansible.plugins.action import ActionBase


def argument_spec(options):
    spec = {}
    for name, opt in options.items():
        entry = {k: opt[k] for k in ("type", "elements", "choices", "required", "default", "no_log") if k in opt}
        if opt.get("suboptions"):
            entry["options"] = argument_spec(opt["suboptions"])
        spec[name] = entry
    return spec


class Recorder(ActionBase):
    MODULE = ""
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        with open(os.environ["OPS_AWX_SPECS"]) as f:
            doc = json.load(f)["awx.awx." + self.MODULE]["doc"]
        args = json.loads(json.dumps(dict(self._task.args), cls=AnsibleJSONEncoder))
        checked = ArgumentSpecValidator(argument_spec(doc["options"])).validate(args)
        if checked.error_messages:
            result.update(failed=True, msg="; ".join(str(m) for m in checked.error_messages))
            return result
        with open(os.environ["OPS_CONTRACT_LOG"], "a") as log:
            log.write(json.dumps({"module": self.MODULE, "params": args}) + "\n")
        result.update(changed=True)
        return result
