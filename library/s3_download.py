#!/usr/bin/python
# -*- coding: utf-8 -*-
# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""Download S3 objects for recovery (INFO-013): staged, verified, never overwriting silently."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: s3_download
short_description: Download one S3 object or every object under a prefix into a folder, verified and all-or-nothing
description:
  - Catalog task INFO-013 (障害復旧等においてS3に保管されたファイルをダウンロードする).
  - Decides first - lists the objects (ListObjectsV2, or HeadObject for one key), maps each key to a path under
    I(dest_root)/I(dest_dir) and refuses, before anything is read, a destination or a key that would escape that
    folder (C(..), absolute paths, symlinks leading outside), a bucket, key or prefix that does not exist, and a
    local file that exists with other content unless I(overwrite) is true. Refusals start with C(INVALID INPUT:).
  - A local file with the same size and MD5 as a single-part object's ETag is left alone (unchanged).
  - Then stages every object into a temporary file next to its destination, streamed (bounded memory), checks its
    size and, for single-part objects, its MD5 against the ETag; only when every object is staged are they renamed
    into place. Any failure removes every staged file - nothing partial is left behind.
  - Check mode reports every object - size, ETag, local path, and whether it would be created, overwritten
    or left unchanged.
  - Amazon S3 API Reference - ListObjectsV2, HeadObject, GetObject; "Checking object integrity" (ETag is the MD5
    of the content for objects uploaded in one part, not for multipart uploads).
options:
  bucket: {description: Bucket name., type: str, required: true}
  key: {description: One object key (mutually exclusive with I(prefix))., type: str}
  prefix:
    description: Every object under this prefix; the part of the key after the prefix is the local path.
    type: str
  dest_root: {description: The environment's restore root (absolute; must exist)., type: path, required: true}
  dest_dir: {description: Folder under I(dest_root) (relative; created if missing)., type: str, required: true}
  overwrite:
    description: Replace local files whose content differs (their SHA-256 is recorded first).
    type: bool
    default: false
  max_objects: {description: Refuse a prefix with more objects than this., type: int, default: 10000}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Restore a folder
  s3_download:
    bucket: joho-backup
    prefix: restore/app/
    dest_root: /srv/ops/restore
    dest_dir: REQ-2026-1122-007
"""

RETURN = r"""
objects:
  description: One entry per object - key, size (bytes), etag, local path, action (create, overwrite, none), sha256.
  returned: always
  type: list
ops_changes:
  description: Evidence entries.
  returned: always
  type: list
bytes:
  description: Bytes downloaded.
  returned: always
  type: int
"""

import hashlib
import os
import tempfile

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

BLOCK = 1024 * 1024


def digests(path):
    """(sha256 hex, md5 hex, size in bytes) of a local file, read in 1 MiB blocks."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0  # noqa: S324 - MD5 only to compare with the ETag
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            sha.update(block)
            md5.update(block)
            size += len(block)
    return sha.hexdigest(), md5.hexdigest(), size


def inside(root, path):
    """True when ``path`` (resolved, symlinks followed) is ``root`` or below it."""
    root, path = os.path.realpath(root), os.path.realpath(path)
    return path == root or path.startswith(root + os.sep)


def local_rel(key, prefix):
    """Relative local path of a key, or None when the key cannot be mapped safely."""
    rel = key[len(prefix) :] if prefix is not None else key.rsplit("/", 1)[-1]
    rel = rel.lstrip("/") if prefix is not None else rel
    parts = rel.split("/")
    if not rel or rel.endswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in rel or "\x00" in rel:
        return None
    return os.path.join(*parts)


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            bucket=dict(type="str", required=True),
            key=dict(type="str"),
            prefix=dict(type="str"),
            dest_root=dict(type="path", required=True),
            dest_dir=dict(type="str", required=True),
            overwrite=dict(type="bool", default=False),
            max_objects=dict(type="int", default=10000),
        ),
        mutually_exclusive=[["key", "prefix"]],
        required_one_of=[["key", "prefix"]],
        supports_check_mode=True,
    )
    p = module.params

    def invalid(msg, **kw):
        module.fail_json(msg="INVALID INPUT: " + msg, **kw)

    root = os.path.realpath(p["dest_root"])
    if not os.path.isdir(root):
        invalid("dest_root: %s is not a folder on %s; create it or fix ops_restore_root" % (root, os.uname()[1]))
    if os.path.isabs(p["dest_dir"]) or ".." in p["dest_dir"].replace("\\", "/").split("/"):
        invalid("dest_dir: %r must be a relative folder under %s without '..'" % (p["dest_dir"], root))
    dest = os.path.join(root, p["dest_dir"])
    if not inside(root, dest):
        invalid("dest_dir: %r leads outside %s (through a symlink)" % (p["dest_dir"], root))

    s3 = module.client("s3", retry_decorator=AWSRetry.jittered_backoff(retries=10))
    objects = []
    try:
        if p["key"] is not None:
            head = s3.head_object(Bucket=p["bucket"], Key=p["key"], aws_retry=True)
            objects.append(dict(key=p["key"], size=head["ContentLength"], etag=head["ETag"].strip('"')))
        else:
            token = None
            while True:
                kw = dict(Bucket=p["bucket"], Prefix=p["prefix"])
                if token:
                    kw["ContinuationToken"] = token
                page = s3.list_objects_v2(aws_retry=True, **kw)
                for o in page.get("Contents", []):
                    if not o["Key"].endswith("/"):  # folder placeholders
                        objects.append(dict(key=o["Key"], size=o["Size"], etag=o["ETag"].strip('"')))
                if len(objects) > p["max_objects"]:
                    invalid(
                        "prefix: more than %d objects under %r; narrow the prefix" % (p["max_objects"], p["prefix"])
                    )
                token = page.get("NextContinuationToken")
                if not token:
                    break
    except botocore.exceptions.ClientError as e:
        code = e.response["Error"]["Code"]
        if code in ("NoSuchBucket", "404", "NoSuchKey", "403", "AccessDenied"):
            what = (
                "bucket %r" % p["bucket"]
                if code == "NoSuchBucket"
                else "s3://%s/%s" % (p["bucket"], p["key"] or p["prefix"])
            )
            invalid("%s does not exist or cannot be read (%s)" % (what, code))
        module.fail_json_aws(e, msg="Could not list the objects")
    except botocore.exceptions.BotoCoreError as e:
        module.fail_json_aws(e, msg="Could not list the objects")
    if not objects:
        invalid("prefix: no object under s3://%s/%s" % (p["bucket"], p["prefix"]))

    problems = []
    for o in objects:
        rel = local_rel(o["key"], p["prefix"])
        if rel is None or not inside(root, os.path.join(dest, rel)):
            problems.append("%s would land outside %s" % (o["key"], dest))
            continue
        o["local"] = os.path.join(dest, rel)
        o["before"] = None
        if os.path.lexists(o["local"]):
            if os.path.islink(o["local"]) or not os.path.isfile(o["local"]):
                problems.append("%s exists and is not a regular file" % o["local"])
                continue
            sha, md5, size = digests(o["local"])
            o["before"] = dict(size=size, sha256=sha)
            if size == o["size"] and "-" not in o["etag"] and md5 == o["etag"]:
                o["action"] = "none"
            elif p["overwrite"]:
                o["action"] = "overwrite"
            else:
                problems.append("%s exists with other content (set overwrite: true to replace it)" % o["local"])
        else:
            o["action"] = "create"
    if problems:
        invalid("; ".join(problems))

    def report(done=False, failed=None):
        changes = []
        for o in objects:
            after = dict(local=o["local"], size=o["size"], etag=o["etag"])
            if o.get("sha256"):
                after["sha256"] = o["sha256"]
            changes.append(
                dict(
                    resource="s3://%s/%s" % (p["bucket"], o["key"]),
                    name=o["local"],
                    action=o["action"],
                    before=o["before"],
                    after=after,
                    changed=o["action"] != "none",
                )
            )
        return dict(
            objects=objects,
            ops_changes=changes,
            changed=any(o["action"] != "none" for o in objects),
            bytes=sum(o["size"] for o in objects if o["action"] != "none" and (done or module.check_mode)),
        )

    if module.check_mode:
        module.exit_json(**report())

    staged = []
    try:
        for o in objects:
            if o["action"] == "none":
                o["sha256"] = o["before"]["sha256"]
                continue
            folder = os.path.dirname(o["local"])
            os.makedirs(folder, exist_ok=True)
            if not inside(root, folder):
                raise ValueError("%s leads outside %s" % (folder, root))
            fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(o["local"]) + ".part-", dir=folder)
            staged.append((tmp, o))
            with os.fdopen(fd, "wb") as f:
                s3.download_fileobj(p["bucket"], o["key"], f)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # as a plain download would be, not mkstemp's 0600
            sha, md5, size = digests(tmp)
            if size != o["size"]:
                raise ValueError("%s: %d bytes received, %d expected" % (o["key"], size, o["size"]))
            if "-" not in o["etag"] and md5 != o["etag"]:
                raise ValueError("%s: MD5 %s does not match the ETag %s" % (o["key"], md5, o["etag"]))
            o["sha256"] = sha
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, OSError, ValueError) as e:
        for tmp, _o in staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        module.fail_json(msg="Download failed, nothing was written (every staged file removed): %s" % e, **report())
    for tmp, o in staged:
        os.replace(tmp, o["local"])
    module.exit_json(**report(done=True))


if __name__ == "__main__":
    main()
