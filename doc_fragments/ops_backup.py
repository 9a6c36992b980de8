# Operations automation collection - GPL-3.0-or-later (as Ansible doc fragments are)
"""The options that ec2_ami_backup and ec2_snapshot_backup share (module_utils/ops_backup.backup_argument_spec)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  state:
    description: C(present) creates (if missing) then prunes; C(pruned) only applies the retention rule (CORE-012).
    type: str
    choices: [present, pruned]
    default: present
  ticket: {description: Work request number (Ticket tag)., type: str, required: true}
  generation:
    description: Generation label, e.g. pre-change or post-change (letters, digits, '.', '_', '-').
    type: str
    default: pre-change
  retention: {description: Generations to keep per instance (AMIs) or volume (snapshots) (>= 1)., type: int, default: 2}
  prune: {description: Apply the retention rule after creating., type: bool, default: true}
  poll_interval: {description: Seconds between polls., type: int, default: 15}
  expected_prune:
    description: IDs the plan would prune. When given, pruning anything else fails with C(DRIFT:) before any change.
    type: list
    elements: str
"""
