"""The embedded sandbox: a moto server (AWS API) on 127.0.0.1 seeded with the estate the sample requests use.

State lives in ``$OPS_SANDBOX_DIR`` (default ``<project>/.sandbox``): ``moto.pid``, ``endpoint.url``,
``moto.log``, ``estate.json`` and ``amis.json`` (the few AMIs moto is started with, see ``_amis_file``).
``up`` and ``down`` are idempotent. Nothing listens beyond 127.0.0.1.
Beside the moto server runs the web stack of ``websandbox`` (nginx, haproxy, stand-in services under a private
supervisord, in ``web/``), started at the end of ``up`` and stopped first by ``down``, and the ESA SIMULATOR of
``esasandbox`` (one SSH port per appliance of inventories/sandbox, in ``esa/``).

Estate (region ap-northeast-1): for each environment of ``ESTATE_ENVIRONMENTS`` one web, ap and db
instance tagged ``Name``, ``Environment``, ``Role``, each with a root and a data EBS volume. The sandbox
environment's instances are named ``joho-web01`` …; the others ``<env>-joho-web01`` … so that a request for
one environment can name another's instance and be refused.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import OpsError, RunFailed
from ..paths import project_root, sandbox_dir
from . import esa, procs, web

REGION = "ap-northeast-1"
HOST = "127.0.0.1"
ESTATE_ENVIRONMENTS = ("sandbox", "prod", "dr", "maint")
ROLES = ("web", "ap", "db")
# Moto accepts any credentials; these are not secrets (they are in inventories/sandbox too).
CREDENTIALS = {"aws_access_key_id": "SANDBOXACCESSKEYID00",
               "aws_secret_access_key": "sandbox-secret-key-moto-accepts-any"}


_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass
class SandboxState:
    running: bool
    pid: int | None
    endpoint: str | None
    directory: Path


def instance_name(environment: str, role: str, n: int = 1) -> str:
    base = f"joho-{role}{n:02d}"
    return base if environment == "sandbox" else f"{environment}-{base}"


def _alive(pid: int) -> bool:
    return procs.alive(pid, _CHILDREN.get(pid))


def _answers(endpoint: str, timeout_s: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(endpoint + "/moto-api/", timeout=timeout_s) as r:  # noqa: S310 - loopback only
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def state(directory: Path | None = None) -> SandboxState:
    d = directory or sandbox_dir()
    pid = endpoint = None
    try:
        pid = int((d / "moto.pid").read_text().strip())
        endpoint = (d / "endpoint.url").read_text().strip()
    except (OSError, ValueError):
        pass
    running = bool(pid and _alive(pid) and endpoint and _answers(endpoint))
    return SandboxState(running=running, pid=pid, endpoint=endpoint, directory=d)


def ec2_client(endpoint: str) -> Any:
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


def seed_nas(nas: Path) -> None:
    """The NAS shares of the transfer host as folders: nas/prod with working files, nas/maint with a release."""
    work = nas / "prod" / "work" / "2026-11"
    (work / "detail").mkdir(parents=True, exist_ok=True)
    (work / "summary.csv").write_text("month,count\n2026-11,1234\n", encoding="utf-8")
    (work / "persons.csv").write_text("id,name,birth\n1,佐藤,1970-01-01\n", encoding="utf-8")
    (work / "detail" / "part-001.csv").write_text("id,value\n" + "".join(f"{i},{i * 7}\n" for i in range(500)),
                                                  encoding="utf-8")
    release = nas / "maint" / "release" / "R2026-11"
    release.mkdir(parents=True, exist_ok=True)
    (release / "jobs.dsx").write_text("BEGIN HEADER\nEND HEADER\n", encoding="utf-8")
    for server in ("stat-ap01", "stat-ap02"):  # the release folders of the production servers (STAT-007)
        (nas.parent / "servers" / server / "release").mkdir(parents=True, exist_ok=True)


def seed_datastage(home: Path) -> None:
    """The DataStage SIMULATOR's state (tools/datastage_sim: projects STATPRJ and STATDEV, an authfile) in ``home``.

    The simulator is loaded by file path: it is sandbox tooling, not part of the production code path.
    """
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "dssim", project_root() / "tools" / "datastage_sim" / "dssim.py")
    if spec is None or spec.loader is None:
        raise RunFailed("sandbox: tools/datastage_sim/dssim.py is missing")
    dssim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dssim)
    dssim.seed_datastage(home)


def s3_client(endpoint: str) -> Any:
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
    path = d / "amis.json"
    path.write_text(json.dumps(linux, indent=1) + "\n")
    return path


def up(directory: Path | None = None, port: int | None = None, timeout_s: float = 30.0) -> SandboxState:
    """Start the moto server and seed the estate, then the web stack (websandbox), unless running (idempotent)."""
    d = directory or sandbox_dir()
    current = state(d)
    if current.running:
        web.up(d)  # returns at once if it is running too
        esa.up(d / "esa")  # likewise
        return current
    web.require()  # fail before anything is started if nginx/haproxy/supervisor are missing
    d.mkdir(parents=True, exist_ok=True)
    port = port or procs.free_ports(1)[0]
    endpoint = f"http://{HOST}:{port}"
    moto = Path(sys.executable).parent / "moto_server"
    env = dict(os.environ)
    amis = _amis_file(d)
    if amis is not None:
        env["MOTO_AMIS_PATH"] = str(amis)
    with (d / "moto.log").open("ab") as log:
        proc = subprocess.Popen([str(moto), "-H", HOST, "-p", str(port)], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    _CHILDREN[proc.pid] = proc  # the server outlives this call; keep the handle so it can be reaped
    (d / "moto.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + timeout_s
    while not _answers(endpoint, 0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RunFailed(f"sandbox: moto_server did not start on {endpoint}; see {d / 'moto.log'}")
        time.sleep(0.1)
    (d / "endpoint.url").write_text(endpoint)
    (d / "restore").mkdir(exist_ok=True)  # ops_restore_root of inventories/sandbox
    seed_nas(d / "nas")
    seed_datastage(d / "datastage")
    estate = seed(endpoint)
    (d / "estate.json").write_text(json.dumps(estate, indent=2, sort_keys=True) + "\n")
    web.up(d)
    esa.up(d / "esa")
    return state(d)


def down(directory: Path | None = None, timeout_s: float = 10.0) -> SandboxState:
    """Stop the web stack and the moto server (idempotent); the estate and the restore folder are gone with it."""
    d = directory or sandbox_dir()
    web.down(d)
    esa.down(d / "esa")
    current = state(d)
    if current.pid:
        procs.terminate(current.pid, _CHILDREN.pop(current.pid, None), timeout_s)
    for name in ("moto.pid", "endpoint.url", "estate.json", "amis.json"):
        (d / name).unlink(missing_ok=True)
    shutil.rmtree(d / "restore", ignore_errors=True)  # files restored from the estate go with it
    shutil.rmtree(d / "nas", ignore_errors=True)
    shutil.rmtree(d / "servers", ignore_errors=True)
    shutil.rmtree(d / "datastage", ignore_errors=True)
    shutil.rmtree(d / "datastage-backups", ignore_errors=True)
    shutil.rmtree(d / "esa", ignore_errors=True)
    return state(d)


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


def status(directory: Path | None = None) -> dict[str, Any]:
    s = state(directory)
    data: dict[str, Any] = {"running": s.running, "pid": s.pid if s.running else None,
                            "endpoint": s.endpoint if s.running else None, "directory": str(s.directory),
                            "instances": [], "web": web.endpoints(s.directory),
                            "esa": {name: f"ssh://{esa.USERNAME}@{esa.HOST}:{port}"
                                    for name, port in esa.ports(s.directory / "esa").items()}}
    if s.running and s.endpoint:
        try:
            data["instances"] = instances(s.endpoint)
        except Exception as e:
            raise OpsError(f"sandbox: the moto server at {s.endpoint} did not answer: {e}") from e
    return data
