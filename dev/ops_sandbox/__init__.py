"""The sandbox: a private stand-in for the estate on 127.0.0.1, for the demo, the tests and the bench.

**It is not the production driver.** Nothing in ``ops_driver`` outside this package imports it but the CLI's
``ops-driver sandbox up|down|status``, and nothing here runs during a plan or an apply: those reach real AWS,
servers and appliances through the inventory of their environment. The inventory ``inventories/sandbox``
points the playbooks at what this package starts instead. Nothing here listens beyond 127.0.0.1.

State lives in ``$OPS_SANDBOX_DIR`` (default ``<project>/.sandbox``, see ``paths.sandbox_dir``). The parts:

* :mod:`.aws`: a moto server (EC2, S3) seeded with the instances, Dedicated Hosts and bucket of every
  environment (``moto.pid``, ``endpoint.url``, ``moto.log``, ``estate.json``, ``amis.json``);
* :mod:`.aws_seeded`: in front of moto, the GuardDuty, CloudTrail, Backup and Config calls moto 5 lacks, answered
  from seeded data in botocore's wire shapes (the AWS daily checks; ``seeded.pid``, ``seeded.url``, ``seeded.json``);
* :mod:`.folders`: folders standing in for the NAS shares, the production servers' release folders, the
  restore root and the DataStage simulator's home (``nas/``, ``servers/``, ``restore/``, ``datastage/``);
* :mod:`.web`: nginx, haproxy and stand-in services under a private supervisord (``web/``);
* :mod:`.esa`: the ESA SIMULATOR, one SSH port per appliance of the inventory (``esa/``);
* :mod:`.simulators`: the one loader of the simulators in ``tools/`` (ESA, DataStage);
* :mod:`.procs`: the one way to spawn, wait for and stop the servers above, and the free ports they use.

:func:`up` and :func:`down` are idempotent; :func:`status` is what ``ops-driver sandbox status --json`` prints.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection
from pathlib import Path
from typing import Any

from ops_driver.errors import InvalidInput, OpsError
from ops_driver.paths import sandbox_dir
from ops_sandbox import aws, esa, folders, procs, simulators, web
from ops_sandbox.aws import (
    BUCKET,
    BUCKET_OBJECTS,
    CREDENTIALS,
    ESTATE_ENVIRONMENTS,
    REGION,
    ROLES,
    SandboxState,
    allocate_hosts,
    ec2_client,
    instance_name,
    instances,
    launch,
    s3_client,
    seed,
)
from ops_sandbox.folders import seed_datastage, seed_nas
from ops_sandbox.procs import HOST

__all__ = ["BUCKET", "BUCKET_OBJECTS", "CREDENTIALS", "ESTATE_ENVIRONMENTS", "HOST", "OPTIONAL_PARTS", "REGION",
           "ROLES", "SandboxState", "allocate_hosts", "aws", "down", "ec2_client", "esa", "folders", "instance_name",
           "instances", "launch", "procs", "s3_client", "seed", "seed_datastage", "seed_nas", "simulators", "state",
           "status", "up", "web"]


def state(directory: Path | None = None) -> SandboxState:
    """The moto server of the sandbox folder ``directory`` (default ``paths.sandbox_dir()``): see ``aws.state``."""
    return aws.state(directory or sandbox_dir())


#: The parts of the sandbox that ``up`` may leave out (``without``): the AWS part (moto, the seeded server) and the
#: folders always start.
OPTIONAL_PARTS = ("web", "esa")


def up(directory: Path | None = None, port: int | None = None, timeout_s: float = 30.0,
       without: Collection[str] = ()) -> SandboxState:
    """Start the sandbox in ``directory`` (default ``paths.sandbox_dir()``) unless it runs; its moto server's state.

    In order: the moto server on ``port`` (default: a free one; waited for up to ``timeout_s`` seconds) and its
    estate, the folders, the web stack, the ESA simulator. If the moto server runs already, only the web stack
    and the ESA simulator are started where they are not. ``without``: parts of :data:`OPTIONAL_PARTS` not to
    start (``"web"``: the web stack, ``"esa"``: the ESA simulator), for users that need only AWS and the folders
    (the AWS roles' molecule scenarios, the AWS benchmarks): each costs about a CPU-second and seconds of waiting
    at ``up`` and ``down``. Raises ``RunFailed`` (exit 3) if nginx, haproxy or supervisor are missing (before
    anything starts; not checked without the web stack) or a server does not come up, ``InvalidInput`` (exit 2)
    for an unknown part.
    """
    unknown = sorted(set(without) - set(OPTIONAL_PARTS))
    if unknown:
        raise InvalidInput(f"sandbox: unknown part(s) {', '.join(unknown)}; the optional parts are "
                           f"{', '.join(OPTIONAL_PARTS)}")
    d = directory or sandbox_dir()
    current = aws.state(d)
    if current.running:
        if "web" not in without:
            web.up(d)  # returns at once if it is running too
        if "esa" not in without:
            esa.up(d / "esa")  # likewise
        return current
    if "web" not in without:
        web.require()  # fail before anything is started if nginx/haproxy/supervisor are missing
    aws.start(d, port, timeout_s)
    folders.seed(d)
    if "web" not in without:
        web.up(d)
    if "esa" not in without:
        esa.up(d / "esa")
    return aws.state(d)


def down(directory: Path | None = None, timeout_s: float = 10.0) -> SandboxState:
    """Stop everything :func:`up` started in ``directory`` (idempotent) and remove what it made but the logs of
    the moto server: the estate, the folders (with files restored or transferred into them), ``web/`` and
    ``esa/``. The moto server's state afterwards (not running)."""
    d = directory or sandbox_dir()
    web.down(d)
    esa.down(d / "esa")
    aws.stop(d, timeout_s)
    folders.remove(d)
    shutil.rmtree(d / "esa", ignore_errors=True)
    return aws.state(d)


def status(directory: Path | None = None) -> dict[str, Any]:
    """What runs in ``directory`` (default ``paths.sandbox_dir()``), as ``ops-driver sandbox status --json``
    prints it: ``running``, ``pid``, ``endpoint`` (``None`` unless running), ``directory``, ``instances`` (see
    ``aws.instances``; ``[]`` unless running), ``web`` (``web.endpoints`` or ``None``) and ``esa``
    (``{appliance: "ssh://opsadmin@127.0.0.1:<port>"}``). Raises ``OpsError`` when moto runs but does not answer.
    """
    s = state(directory)
    data: dict[str, Any] = {"running": s.running, "pid": s.pid if s.running else None,
                            "endpoint": s.endpoint if s.running else None, "directory": str(s.directory),
                            "instances": [], "web": web.endpoints(s.directory),
                            "esa": {name: f"ssh://{esa.USERNAME}@{HOST}:{port}"
                                    for name, port in esa.ports(s.directory / "esa").items()}}
    if s.running and s.endpoint:
        try:
            data["instances"] = instances(s.endpoint)
        except Exception as e:
            raise OpsError(f"sandbox: the moto server at {s.endpoint} did not answer: {e}") from e
    return data
