# Operations automation collection - GPL-3.0-or-later (as Ansible doc fragments are)
"""The DataStage command line options every datastage_* module takes (module_utils/datastage_cli.CLI_ARGS)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  istool: {description: Path of istool (datastage_release imports and exports with it)., type: path}
  dsjob: {description: Path of dsjob., type: path, required: true}
  dshome:
    description: The engine's DSEngine folder ($DSHOME); C(. $DSHOME/dsenv) is sourced once per run (dsjob needs
      libvmdsapi.so on the library path).
    type: path
    required: true
  domain: {description: Services tier host:port (-domain)., type: str, required: true}
  server: {description: Engine host name (-server)., type: str, required: true}
  authfile: {description: IBM credentials file., type: path}
  user: {description: User (written to a temporary authfile with password)., type: str}
  password: {description: Password (never logged)., type: str}
  environment: {description: Extra environment of the commands., type: dict, default: {}}
"""
