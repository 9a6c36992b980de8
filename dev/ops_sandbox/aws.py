"""The sandbox's AWS: a moto server (EC2 and S3 APIs) on 127.0.0.1 seeded with the estate the sample requests use.

Files in the sandbox folder: ``moto.pid``, ``endpoint.url``, ``moto.log``, ``estate.json`` and ``amis.json`` (the
few AMIs moto is started with, see ``_amis_file``). :func:`start` and :func:`stop` are called by the sandbox's
``up`` and ``down`` (``ops_sandbox``); :func:`state` says whether the server answers.

Estate (region ap-northeast-1): for each environment of ``ESTATE_ENVIRONMENTS`` one web, ap and db
instance tagged ``Name``, ``Environment``, ``Role``, each with a root and a data EBS volume. The sandbox
environment's instances are named ``joho-web01`` …; the others ``<env>-joho-web01`` … so that a request for
one environment can name another's instance and be refused. Each environment has Dedicated Hosts with its
instances, and the bucket :data:`BUCKET` holds :data:`BUCKET_OBJECTS`.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops_driver.errors import RunFailed
from ops_driver.paths import ENVIRONMENTS
from ops_sandbox import aws_seeded, procs
from ops_sandbox.procs import HOST

REGION = "ap-northeast-1"
#: Every environment of the project (``paths.ENVIRONMENTS``), the sandbox's own first: the estate has each.
ESTATE_ENVIRONMENTS = ("sandbox", *(e for e in ENVIRONMENTS if e != "sandbox"))
ROLES = ("web", "ap", "db")
# Moto accepts any credentials; these are not secrets (they are in inventories/sandbox too).
CREDENTIALS = {"aws_access_key_id": "SANDBOXACCESSKEYID00",
               "aws_secret_access_key": "sandbox-secret-key-moto-accepts-any"}
#: The server's files in the sandbox folder.
PID_FILE, LOG_FILE, ENDPOINT_FILE = "moto.pid", "moto.log", "endpoint.url"
ESTATE_FILE, AMIS_FILE = "estate.json", "amis.json"


@dataclass
class SandboxState:
    """The moto server of a sandbox folder: ``running`` (alive and answering), its ``pid`` and ``endpoint``
    (``http://127.0.0.1:<port>``) as its files say (``None`` when missing), and the folder."""

    running: bool
    pid: int | None
    endpoint: str | None
    directory: Path


def instance_name(environment: str, role: str, n: int = 1) -> str:
    """The Name tag of instance ``n`` of ``role`` in ``environment``: ``joho-web01`` (sandbox),
    ``prod-joho-web01`` (elsewhere)."""
    base = f"joho-{role}{n:02d}"
    return base if environment == "sandbox" else f"{environment}-{base}"


def _answers(endpoint: str, timeout_s: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(endpoint + "/moto-api/", timeout=timeout_s) as r:  # noqa: S310 - loopback only
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def state(directory: Path) -> SandboxState:
    """The moto server of the sandbox folder ``directory``, from ``moto.pid`` and ``endpoint.url``."""
    pid = procs.read_pid(directory / PID_FILE)
    endpoint = None
    if pid is not None:
        try:
            endpoint = (directory / ENDPOINT_FILE).read_text().strip()
        except OSError:
            pass
    running = bool(pid and procs.alive(pid) and endpoint and _answers(endpoint))
    return SandboxState(running=running, pid=pid, endpoint=endpoint, directory=directory)


def ec2_client(endpoint: str) -> Any:
    """A boto3 EC2 client of the sandbox's region for the moto server at ``endpoint``."""
    import boto3

    return boto3.client("ec2", region_name=REGION, endpoint_url=endpoint, **CREDENTIALS)


def _image_id(ec2: Any) -> str:
    images = ec2.describe_images(Owners=["amazon"]).get("Images", [])
    linux = [i for i in images if "amzn" in (i.get("Name") or "").lower()] or images
    if not linux:
        raise RunFailed("sandbox: moto offers no AMI to launch instances from")
    return str(sorted(linux, key=lambda i: i["ImageId"])[0]["ImageId"])


def launch(ec2: Any, environment: str, names_roles: list[tuple[str, str]], image_id: str | None = None,
           host_for_role: dict[str, str] | None = None) -> list[str]:
    """Launch instances (one RunInstances call each) with tags, a root and a data volume each; return IDs.

    ``host_for_role`` (role -> Dedicated Host ID) places the instances of a role on that host
    (``Placement.HostId``, tenancy ``host``).
    """
    image_id = image_id or _image_id(ec2)
    ids = []
    for name, role in names_roles:
        tags = [{"Key": "Name", "Value": name}, {"Key": "Environment", "Value": environment},
                {"Key": "Role", "Value": role}]
        placement = {"AvailabilityZone": REGION + "a"}
        if host_for_role and role in host_for_role:
            placement.update(HostId=host_for_role[role], Tenancy="host")
        resp = ec2.run_instances(
            ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t3.medium",
            Placement=placement,
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}},
                                 {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 20, "VolumeType": "gp3"}}],
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags},
                               {"ResourceType": "volume", "Tags": tags}],
        )
        ids.append(resp["Instances"][0]["InstanceId"])
    return ids


def allocate_hosts(ec2: Any, environment: str, quantity: int) -> list[str]:
    """Allocate ``quantity`` Dedicated Hosts tagged ``Environment`` and ``Name``; return their IDs (sorted)."""
    resp = ec2.allocate_hosts(
        AvailabilityZone=REGION + "a", InstanceType="t3.medium", Quantity=quantity, AutoPlacement="off",
        HostRecovery="on",
        TagSpecifications=[{"ResourceType": "dedicated-host", "Tags": [
            {"Key": "Environment", "Value": environment}, {"Key": "Name", "Value": f"{environment}-dh"}]}],
    )
    return sorted(resp["HostIds"])


#: The backup bucket of the sandbox and its objects (INFO-013 restores from it).
BUCKET = "joho-backup-sandbox"
BUCKET_OBJECTS = {
    "restore/app/config.yml": b"# joho application configuration (sandbox sample)\nlisten: 8080\nworkers: 4\n",
    "restore/app/data/users.csv": b"id,name\n1,sato\n2,suzuki\n",
    "restore/db/dump.sql": b"-- sandbox sample dump\nCREATE TABLE t (id int);\n" * 64,
}


def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client of the sandbox's region for the moto server at ``endpoint``."""
    import boto3

    return boto3.client("s3", region_name=REGION, endpoint_url=endpoint, **CREDENTIALS)


def seed(endpoint: str) -> dict[str, Any]:
    """Create the estate; returns ``{environment: {name: instance_id}, "hosts": {environment: [host IDs]},
    "buckets": {name: [keys]}}``. Each environment has Dedicated Hosts (two for sandbox) with its instances."""
    ec2 = ec2_client(endpoint)
    image = _image_id(ec2)
    estate: dict[str, Any] = {}
    estate["hosts"] = {}
    for env in ESTATE_ENVIRONMENTS:
        hosts = allocate_hosts(ec2, env, 2 if env == "sandbox" else 1)
        estate["hosts"][env] = hosts
        # sandbox: web and ap on the first host, db on the second; elsewhere all three on one host (CORE-049)
        host_for_role = {"web": hosts[0], "ap": hosts[0], "db": hosts[-1]}
        pairs = [(instance_name(env, role), role) for role in ROLES]
        estate[env] = dict(zip([n for n, _ in pairs], launch(ec2, env, pairs, image, host_for_role), strict=True))
    s3 = s3_client(endpoint)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    for key, body in BUCKET_OBJECTS.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    estate["buckets"] = {BUCKET: sorted(BUCKET_OBJECTS)}
    return estate


def _amis_file(d: Path) -> Path | None:
    """A small AMI catalogue for moto (``MOTO_AMIS_PATH``): the Amazon Linux AMIs of moto's own default list.

    By default moto loads about 1,350 AMIs into every region it serves (its default list, the latest and the
    ECS-optimised ones), which costs seconds of CPU at start and in every DescribeImages; the sandbox launches
    from one Amazon Linux AMI and never needs the others. None (moto's defaults) when moto's list is not found.
    """
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("moto")
    if spec is None or spec.origin is None:
        return None
    source = Path(spec.origin).parent / "ec2" / "resources" / "amis.json.gz"
    try:
        amis = json.loads(gzip.decompress(source.read_bytes()))
    except (OSError, ValueError):
        return None
    linux = [a for a in amis if "amzn" in str(a.get("name", "")).lower()]
    if not linux:
        return None
    path = d / AMIS_FILE
    path.write_text(json.dumps(linux, indent=1) + "\n")
    return path


def start(d: Path, port: int | None = None, timeout_s: float = 30.0) -> str:
    """Start moto_server (from this interpreter's environment) on 127.0.0.1:``port`` (default: a free port) for
    the sandbox folder ``d``, wait until it answers, seed the estate (``estate.json``); return its endpoint
    (also in ``endpoint.url``). Raises ``procs.StartFailed`` (exit 3) if it does not answer within ``timeout_s``
    seconds, ``RunFailed`` if moto offers no AMI."""
    d.mkdir(parents=True, exist_ok=True)
    port = port or procs.free_ports(1)[0]
    endpoint = f"http://{HOST}:{port}"
    env = dict(os.environ)
    amis = _amis_file(d)
    if amis is not None:
        env["MOTO_AMIS_PATH"] = str(amis)
    proc = procs.spawn([Path(sys.executable).parent / "moto_server", "-H", HOST, "-p", str(port)],
                       log=d / LOG_FILE, pid_file=d / PID_FILE, env=env)
    procs.wait_ready(proc, lambda: _answers(endpoint, 0.5), name=f"sandbox: moto_server on {endpoint}",
                     log=d / LOG_FILE, timeout_s=timeout_s)
    (d / ENDPOINT_FILE).write_text(endpoint)
    estate = seed(endpoint)
    (d / ESTATE_FILE).write_text(json.dumps(estate, indent=2, sort_keys=True) + "\n")
    aws_seeded.start(d, endpoint, timeout_s)  # the calls moto lacks (AWS daily checks), in front of it
    return endpoint


def stop(d: Path, timeout_s: float = 10.0) -> None:
    """Stop the moto server of the sandbox folder ``d`` (idempotent) and remove its files but the log: the
    estate is gone with it."""
    aws_seeded.stop(d, timeout_s)
    pid = procs.read_pid(d / PID_FILE)
    if pid is not None:
        procs.stop(pid, timeout_s=timeout_s)
    for name in (PID_FILE, ENDPOINT_FILE, ESTATE_FILE, AMIS_FILE):
        (d / name).unlink(missing_ok=True)


def instances(endpoint: str) -> list[dict[str, Any]]:
    """Every instance of the sandbox: name, id, environment, role, state; sorted by environment and name."""
    ec2 = ec2_client(endpoint)
    out = []
    for page in ec2.get_paginator("describe_instances").paginate():
        for r in page["Reservations"]:
            for i in r["Instances"]:
                tags = {t["Key"]: t["Value"] for t in i.get("Tags", [])}
                out.append({"name": tags.get("Name", ""), "id": i["InstanceId"],
                            "environment": tags.get("Environment", ""), "role": tags.get("Role", ""),
                            "state": i["State"]["Name"]})
    return sorted(out, key=lambda x: (x["environment"], x["name"], x["id"]))
