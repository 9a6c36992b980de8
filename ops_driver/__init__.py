"""ops-driver: runs the operations catalog's playbooks for work requests, with dry-run evidence.

Modules (the flow and the folders: docs/architecture.md): ``catalog`` (the operations catalog), ``request``
(work requests), ``policy`` (plan freshness, environment lock, scheduled day), ``governance`` (change classes
and approvals, policy/change.yml), ``ledger`` (the hash-chained record of plans, approvals and applies),
``runner`` (ansible-runner adapter), ``contract`` (the role/driver contract and the run record),
``operations`` (plan and apply), ``report`` (report.md), ``evidence`` (bundles), ``records`` and ``due``
(the monthly record and the due list), ``errors`` (exit codes), ``paths`` and ``cli`` (the thin command line).
Subpackages: ``schedule`` (the business-day calendar and the annual schedule) and ``sandbox`` (the embedded
estate on 127.0.0.1: not part of a production run).
"""

__version__ = "0.1.0"
