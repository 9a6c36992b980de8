# Operations automation collection - GPL-3.0-or-later (as Ansible doc fragments are)
"""The waiting option that ec2_power and ec2_host_reboot share (module_utils/ops_ec2.Ec2Instances.waiter)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  poll_interval:
    description: Seconds between two polls.
    type: int
    default: 15
"""
