"""INFO-011 / INFO-012 / CORE-012 against the sandbox: plan changes nothing, apply makes what was planned,
generations prune only our own backups, timeouts leave the image in place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ops_driver.errors import InvalidInput
from ops_driver.run import pipeline
from tests.integration.conftest import ids_by_name, write_request
from tests.support.approvals import approved

pytestmark = pytest.mark.integration

OURS = "ops-automation-collection"


def tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def images(ec2: Any) -> dict[str, dict[str, Any]]:
    return {i["ImageId"]: i for i in ec2.describe_images(Owners=["self"])["Images"]}


def snapshots(ec2: Any) -> dict[str, dict[str, Any]]:
    """Snapshots of the account, less the ones moto makes for its built-in public AMIs."""
    return {
        s["SnapshotId"]: s
        for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
        if not s.get("Description", "").startswith("Auto-created snapshot for AMI")
    }


@pytest.fixture()
def clean(estate: Any) -> Any:
    """No image or snapshot of ours left from another test."""
    for image_id, im in images(estate).items():
        estate.deregister_image(ImageId=image_id)
        for b in im.get("BlockDeviceMappings", []):
            if b.get("Ebs", {}).get("SnapshotId"):
                estate.delete_snapshot(SnapshotId=b["Ebs"]["SnapshotId"])
    for sid in snapshots(estate):
        estate.delete_snapshot(SnapshotId=sid)
    return estate


def _ami(tmp_path: Path, ticket: str, generation: str, **params: Any) -> Any:
    req = write_request(
        tmp_path / f"ami-{ticket}-{generation}.yml",
        "INFO-011",
        {"instances": ["joho-web01"], "generation": generation, **params},
        ticket=ticket,
    )
    return req


def test_ami_plan_changes_nothing_apply_makes_exactly_the_plan_and_is_idempotent(clean: Any, tmp_path: Path) -> None:
    ec2 = clean
    web = ids_by_name(ec2)["joho-web01"]
    before = (set(images(ec2)), set(snapshots(ec2)))
    plan = pipeline.plan(_ami(tmp_path, "REQ-A", "pre-change"))
    assert plan.exit_code == 0, plan.message
    assert (set(images(ec2)), set(snapshots(ec2))) == before  # check mode created nothing
    [change] = plan.changes
    assert change["action"] == "create" and change["resource"] == f"ec2:image/(new for {web})"

    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 0, out.message
    assert out.manifest["comparison"]["matched"] == [f"ec2:image/new-for/{web}"]
    assert out.manifest["comparison"]["unpredicted"] == [] == out.manifest["comparison"]["not_done"]
    made = [im for i, im in images(ec2).items() if i not in before[0]]
    assert len(made) == 1
    image = made[0]
    assert image["Name"].startswith("joho-web01-pre-change-REQ-A-") and image["State"] == "available"
    expected = {
        "Ticket": "REQ-A",
        "CatalogTask": "INFO-011",
        "Generation": "pre-change",
        "CreatedBy": OURS,
        "SourceInstance": web,
    }
    assert expected.items() <= tags(image).items()
    snap_ids = [b["Ebs"]["SnapshotId"] for b in image["BlockDeviceMappings"] if "Ebs" in b]
    assert snap_ids and all(expected.items() <= tags(snapshots(ec2)[s]).items() for s in snap_ids)

    again = pipeline.plan(_ami(tmp_path, "REQ-A", "pre-change"))
    assert again.exit_code == 0 and not any(c["changed"] for c in again.changes)
    assert "already made" in again.changes[0]["note"]
    assert pipeline.apply(approved(again.run_id)).exit_code == 0
    assert len(images(ec2)) == len(before[0]) + 1  # nothing new


def test_no_reboot_false_is_warned_in_plain_words(clean: Any, tmp_path: Path) -> None:
    plan = pipeline.plan(_ami(tmp_path, "REQ-R", "pre-change", no_reboot=False))
    assert plan.exit_code == 0
    report = (plan.path / "report.md").read_text()
    assert "with no_reboot=false REBOOTS the instance" in report


def test_three_generations_prune_the_oldest_and_only_ours(clean: Any, tmp_path: Path) -> None:
    ec2 = clean
    ids = ids_by_name(ec2)
    web = ids["joho-web01"]
    first = pipeline.apply(approved(pipeline.plan(_ami(tmp_path, "REQ-1", "pre-change")).run_id))
    second = pipeline.apply(approved(pipeline.plan(_ami(tmp_path, "REQ-1", "post-change")).run_id))
    assert first.exit_code == second.exit_code == 0
    oldest = first.changes[0]["resource"].split("/")[-1]
    # Foreign images: a similar name and tags but no CreatedBy; ours by tag but of another instance.
    foreign = ec2.create_image(
        InstanceId=web,
        Name="joho-web01-pre-change-REQ-0-20200101",
        TagSpecifications=[
            {
                "ResourceType": "image",
                "Tags": [{"Key": "Generation", "Value": "pre-change"}, {"Key": "SourceInstance", "Value": web}],
            }
        ],
    )["ImageId"]
    other = ec2.create_image(
        InstanceId=ids["joho-ap01"],
        Name="joho-ap01-pre-change-REQ-1-20200101",
        TagSpecifications=[
            {
                "ResourceType": "image",
                "Tags": [{"Key": "CreatedBy", "Value": OURS}, {"Key": "SourceInstance", "Value": ids["joho-ap01"]}],
            }
        ],
    )["ImageId"]
    oldest_snaps = [b["Ebs"]["SnapshotId"] for b in images(ec2)[oldest]["BlockDeviceMappings"] if "Ebs" in b]

    plan = pipeline.plan(_ami(tmp_path, "REQ-2", "pre-change"))
    assert plan.exit_code == 0
    planned = {(c["action"], c["resource"]) for c in plan.changes}
    assert planned == {("create", f"ec2:image/(new for {web})"), ("prune", f"ec2:image/{oldest}")}
    assert oldest in images(ec2)  # the plan pruned nothing
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 0, out.message
    now = images(ec2)
    assert oldest not in now and not set(oldest_snaps) & set(snapshots(ec2))  # image and its snapshots gone
    assert {foreign, other, second.changes[0]["resource"].split("/")[-1]} <= set(now)
    ours_web = [
        i for i, im in now.items() if tags(im).get("CreatedBy") == OURS and tags(im).get("SourceInstance") == web
    ]
    assert len(ours_web) == 2


def test_core_012_prunes_only(clean: Any, tmp_path: Path) -> None:
    ec2 = clean
    for gen in ("pre-change", "post-change"):
        assert pipeline.apply(approved(pipeline.plan(_ami(tmp_path, "REQ-G", gen)).run_id)).exit_code == 0
    req = write_request(tmp_path / "core.yml", "CORE-012", {"instances": ["joho-web01"], "retention": 1})
    plan = pipeline.plan(req)
    assert [c["action"] for c in plan.changes] == ["prune"]
    assert "cannot be undone" in (plan.path / "report.md").read_text()
    count = len(images(ec2))
    assert pipeline.apply(approved(plan.run_id)).exit_code == 0
    assert len(images(ec2)) == count - 1


def test_snapshots_of_every_volume_of_an_instance_and_by_volume_id(clean: Any, tmp_path: Path) -> None:
    ec2 = clean
    db = ids_by_name(ec2)["joho-db01"]
    vols = {
        v["Attachments"][0]["Device"]: v["VolumeId"]
        for v in ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [db]}])["Volumes"]
    }
    req = write_request(tmp_path / "snap.yml", "INFO-012", {"instances": ["joho-db01"]}, ticket="REQ-S")
    plan = pipeline.plan(req)
    assert plan.exit_code == 0 and snapshots(ec2) == {}
    assert {c["resource"] for c in plan.changes} == {f"ec2:snapshot/(new for {v})" for v in vols.values()}
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 0, out.message
    snaps = snapshots(ec2)
    assert {s["VolumeId"] for s in snaps.values()} == set(vols.values())
    for s in snaps.values():
        device = next(d for d, v in vols.items() if v == s["VolumeId"])
        assert s["Description"].startswith(f"joho-db01 {device} INFO-012 REQ-S pre-change")
        assert {"CreatedBy": OURS, "SourceVolume": s["VolumeId"], "Ticket": "REQ-S"}.items() <= tags(s).items()
    by_id = write_request(
        tmp_path / "vol.yml", "INFO-012", {"volumes": [vols["/dev/sdf"]], "generation": "post-change"}
    )
    assert pipeline.apply(approved(pipeline.plan(by_id).run_id)).exit_code == 0
    assert len(snapshots(ec2)) == 3


@pytest.mark.parametrize(
    "params, needle",
    [
        ({"instances": ["prod-joho-db01"]}, "belongs to environment prod"),
        ({"volumes": ["vol-0123456789abcdef0"]}, "INVALID INPUT: volumes"),
    ],
)
def test_snapshot_refusals_exit_2_and_create_nothing(
    clean: Any, tmp_path: Path, params: dict[str, Any], needle: str
) -> None:
    out = pipeline.plan(write_request(tmp_path / "r.yml", "INFO-012", params))
    assert out.exit_code == 2 and needle in out.message
    assert snapshots(clean) == {}


def test_volume_of_another_environment_is_refused(clean: Any, tmp_path: Path) -> None:
    ec2 = clean
    prod = ids_by_name(ec2)["prod-joho-db01"]
    vol = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [prod]}])["Volumes"][0]["VolumeId"]
    out = pipeline.plan(write_request(tmp_path / "r.yml", "INFO-012", {"volumes": [vol]}))
    assert out.exit_code == 2 and f"{vol} (prod-joho-db01) belongs to environment prod, not sandbox" in out.message


@pytest.mark.parametrize(
    "params, needle",
    [
        ({"instances": ["joho-web01"], "retention": 0}, "params.retention: 0 is below the minimum 1; give 1 or more"),
        ({"instances": ["joho-web01"], "generation": "pre change!"},
         "params.generation: 'pre change!' is not allowed here"),
    ],
)
def test_bad_retention_and_generation_label_exit_2_before_anything_runs(
    tmp_path: Path, params: dict[str, Any], needle: str
) -> None:
    with pytest.raises(InvalidInput, match=needle.replace("(", r"\(").replace(")", r"\)")):
        pipeline.plan(write_request(tmp_path / "r.yml", "INFO-011", params))


def test_ami_that_never_becomes_available_is_reported_not_deleted(proxied: Any, clean: Any, tmp_path: Path) -> None:
    plan = pipeline.plan(_ami(tmp_path, "REQ-T", "pre-change", wait_timeout=2))
    proxied.images_stuck = True
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 3
    made = [c["resource"].split("/")[-1] for c in out.changes if c["action"] == "create"]
    assert len(made) == 1 and f"{made[0]} is pending" in out.message and "nothing pruned" in out.message
    proxied.images_stuck = False
    assert made[0] in images(clean)  # left in place for the operator
