# Recording test double of awx.awx.inventory (see ../plugin_utils/recorder.py).
from ansible_collections.awx.awx.plugins.plugin_utils.recorder import Recorder


class ActionModule(Recorder):
    MODULE = "inventory"
