"""ops-driver: runs the operations catalog's playbooks for work requests, with dry-run evidence.

The packages follow the flow of a work request (docs/architecture.md):

- top level: ``catalog`` (the operations catalog), ``request`` (work requests) and ``params_check`` (its parameter
  rules), ``untrusted`` (hostile-input limits and output escaping), ``errors`` (exit codes), ``paths`` (project
  folders, confined reads), ``processes`` (which process owns a run), ``i18n`` (Japanese output) and ``cli``
  (parsing and dispatch only);
- ``run``: plan and apply (``pipeline``), ansible-runner (``runner``), the role contract, ``report`` (report.md),
  bound ``inputs`` and ``recovery`` of interrupted applies;
- ``evidence``: ``bundles``, the ``ledger``, ``governance`` (change classes and approvals), ``guards`` (plan age,
  environment lock, scheduled day), ``identity``, ``signing``, ``syslog_sink``;
- ``records``: the ``monthly`` record and its views (``summary``, ``render``, ``html``), ``due`` and ``schedule``;
- ``awx``: ``export`` (job templates, workflows), ``survey``, ``ee`` (execution environment), ``jobs`` (import of
  AWX jobs), ``client`` (the AWX API).

The sandbox (moto, the web stack, the vendor simulators) is the development-only distribution ``dev/ops_sandbox``.
The dependencies point one way: top level <- evidence <- run <- records, awx <- cli; no import cycle.
"""

__version__ = "0.1.0"
