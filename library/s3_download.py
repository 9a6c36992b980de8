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
  - Also refused before anything is read - everything the download would otherwise fail on half way - two keys
    that map to the same local file (e.g. C(p/x) and C(p//x) under prefix C(p/)), a key whose local file is the
    folder another key's file needs (C(data) and C(data/users.csv)), a path component under I(dest_root) that exists
    and is not a folder, a first existing folder that this user cannot write into, and an archived object that
    is not restored (storage class C(GLACIER) or C(DEEP_ARCHIVE), or C(INTELLIGENT_TIERING) in an archive access
    tier, without HeadObject C(Restore) C(ongoing-request="false"); GetObject would fail with InvalidObjectState).
    Only objects listed with such a class are asked with HeadObject.
  - A local file with the same size and MD5 as a single-part object's ETag is left alone (unchanged).
  - Then stages every object into a temporary file next to its destination, streamed (bounded memory), checks its
    size and, for single-part objects, its MD5 against the ETag; only when every object is staged are they renamed
    into place. Any failure - also of a rename - removes every staged file and every folder it created, and puts
    back the files already renamed (a replaced file is kept as a hard link until the end) - nothing partial is left.
  - Check mode reports every object - size, ETag, local path, and whether it would be created, overwritten
    or left unchanged.
  - Amazon S3 API Reference - ListObjectsV2, HeadObject, GetObject (InvalidObjectState), RestoreObject;
    "Checking object integrity" (ETag is the MD5 of the content for objects uploaded in one part, not for
    multipart uploads).
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
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
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
  description: >-
    One entry per object - key, size (bytes), etag, storage_class, local path, action (create, overwrite, none),
    sha256.
  returned: always
  type: list
ops_changes: {description: Evidence entries., returned: always, type: list}
bytes: {description: Bytes downloaded., returned: always, type: int}
"""

import hashlib
import os
import tempfile

from ansible.module_utils.ops_aws import AWS_ERRORS, aws_errors
from ansible.module_utils.ops_paths import folder_obstacle
from ansible.module_utils.ops_refusal import fail_invalid
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

ARGUMENT_SPEC = dict(
    bucket=dict(type="str", required=True),
    key=dict(type="str"),
    prefix=dict(type="str"),
    dest_root=dict(type="path", required=True),
    dest_dir=dict(type="str", required=True),
    overwrite=dict(type="bool", default=False),
    max_objects=dict(type="int", default=10000),
)

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


#: Storage classes whose objects GetObject refuses (InvalidObjectState) until RestoreObject has made a copy;
#: INTELLIGENT_TIERING only when HeadObject's ArchiveStatus says the object is in an archive access tier.
#: GLACIER_IR (Glacier Instant Retrieval) is read like STANDARD.
ARCHIVE_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
ARCHIVE_TIERS = ("ARCHIVE_ACCESS", "DEEP_ARCHIVE_ACCESS")


def needs_head(storage_class):
    """True when an object listed with this storage class may be archived (HeadObject tells whether it is)."""
    return storage_class in ARCHIVE_CLASSES or storage_class == "INTELLIGENT_TIERING"


def archived(head):
    """Why GetObject would refuse the object described by this HeadObject answer, or None when it can be read.

    GLACIER / DEEP_ARCHIVE objects, and INTELLIGENT_TIERING objects whose ArchiveStatus is an archive access tier,
    are readable only once restored: the Restore field then reads ``ongoing-request="false"``.
    """
    storage_class = head.get("StorageClass") or "STANDARD"
    tier = head.get("ArchiveStatus")
    if storage_class not in ARCHIVE_CLASSES and tier not in ARCHIVE_TIERS:
        return None
    restore = head.get("Restore") or ""
    if 'ongoing-request="false"' in restore:
        return None
    what = storage_class + ("/" + tier if tier in ARCHIVE_TIERS else "")
    state = "its restore is still in progress" if 'ongoing-request="true"' in restore else "it has not been restored"
    return "%s, %s" % (what, state)


def local_conflicts(locals_by_key, dest):
    """Problems between the planned local paths themselves: ``{key: local path}`` -> list of messages.

    Two keys mapping to the same file (the second would silently replace the first), and a file that would also
    have to be the folder of another key's file (the rename into place would fail half way).
    """
    problems = []
    keys_of = {}
    for key, local in locals_by_key.items():
        keys_of.setdefault(local, []).append(key)
    for local, keys in sorted(keys_of.items()):
        if len(keys) > 1:
            problems.append(
                "keys %s all map to the local file %s; download them one at a time (key: ...) into different"
                " dest_dir folders" % (", ".join(repr(k) for k in sorted(keys)), local)
            )
    for local, keys in sorted(keys_of.items()):
        folder = os.path.dirname(local)
        while len(folder) > len(dest):
            if folder in keys_of:
                problems.append(
                    "key %r maps to %s, which key %r needs as a folder; download one of them (key: ...) into"
                    " another dest_dir" % (keys_of[folder][0], folder, keys[0])
                )
                break
            folder = os.path.dirname(folder)
    return problems


def folder_problems(folders):
    """Problems creating or writing the folders ``folders`` (below the restore root, which exists) - messages.

    Per folder, its nearest existing component (ops_paths.folder_obstacle): one that is not a folder (makedirs
    would fail), or a folder this user cannot write into (mkstemp/makedirs would fail). Each component once.
    """
    problems, seen = [], set()
    for folder in sorted(set(folders)):
        obstacle = folder_obstacle(folder)
        if obstacle is None or obstacle[0] in seen:
            continue
        existing, what = obstacle
        seen.add(existing)
        if what == "not writable":
            problems.append(
                "%s is not writable by uid %d, so nothing can be created in it; fix its permissions or the"
                " restore root" % (existing, os.geteuid())
            )
        else:
            problems.append(
                "%s exists and is not a folder, but %s must be created inside it; move it away or choose"
                " another dest_dir" % (existing, folder)
            )
    return problems


def rollback(staged, placed, backups, created):
    """Undo a failed apply; returns the paths it could not restore (empty when nothing partial is left).

    ``staged``: (temporary file, object) pairs; ``placed``: local files already renamed into place; ``backups``:
    {local path being overwritten: hard link to its old content, or None when none could be made}; ``created``:
    folders this run may have created, parents first.
    """
    left = []
    kept = dict(backups)
    for local in placed:
        try:
            if local not in kept:
                os.unlink(local)  # created by this run
            elif kept[local]:
                os.replace(kept.pop(local), local)
            else:
                left.append(local)  # overwritten, and no link to the old content could be kept
        except OSError:
            left.append(local)
    for tmp, _o in staged:
        if os.path.lexists(tmp):
            try:
                os.unlink(tmp)
            except OSError:
                left.append(tmp)
    for keep in kept.values():
        try:
            if keep:
                os.unlink(keep)
        except OSError:
            left.append(keep)
    for folder in reversed(created):
        try:
            os.rmdir(folder)
        except OSError:
            if os.path.isdir(folder):
                left.append(folder)
    return left


def s3_object(key, size, etag, storage_class, **extra):
    """The module's entry of an S3 object: key, size (bytes), etag (unquoted), storage_class (STANDARD when
    S3 names none), and ``extra`` (e.g. archived)."""
    return dict(key=key, size=size, etag=etag.strip('"'), storage_class=storage_class or "STANDARD", **extra)


class Download:
    """One download: ``check_dest``, ``list_objects``, ``plan`` (refusing everything the download would fail on),
    ``stage`` every object, ``place`` them (``rollback`` on any failure). ``objects``: the s3_object entries,
    with their local path, action (create, overwrite, none) and local file before."""

    def __init__(self, module):
        self.module, self.p = module, module.params
        self.objects, self.staged, self.created, self.backups, self.placed = [], [], [], {}, []
        self.s3 = None


    def check_dest(self):
        """dest_root must be a folder; dest_dir relative, without '..', and not leading outside it."""
        p = self.p
        self.root = os.path.realpath(p["dest_root"])
        if not os.path.isdir(self.root):
            fail_invalid(self.module, "dest_root: %s is not a folder on %s; create it or fix ops_restore_root"
                         % (self.root, os.uname()[1]))
        if os.path.isabs(p["dest_dir"]) or ".." in p["dest_dir"].replace("\\", "/").split("/"):
            fail_invalid(self.module, "dest_dir: %r must be a relative folder under %s without '..'"
                         % (p["dest_dir"], self.root))
        self.dest = os.path.join(self.root, p["dest_dir"])
        if not inside(self.root, self.dest):
            fail_invalid(self.module, "dest_dir: %r leads outside %s (through a symlink)" % (p["dest_dir"], self.root))

    def unreadable(self, code, _message):
        if code in ("NoSuchBucket", "404", "NoSuchKey", "403", "AccessDenied"):
            p = self.p
            what = ("bucket %r" % p["bucket"] if code == "NoSuchBucket"
                    else "s3://%s/%s" % (p["bucket"], p["key"] or p["prefix"]))
            return "%s does not exist or cannot be read (%s)" % (what, code)
        return None

    def list_objects(self):
        """HeadObject of ``key``, or ListObjectsV2 of ``prefix`` (folder placeholders left out, max_objects)."""
        p = self.p
        self.s3 = self.module.client("s3", retry_decorator=AWSRetry.jittered_backoff(retries=10))
        with aws_errors(self.module, "Could not list the objects", invalid=self.unreadable):
            if p["key"] is not None:
                head = self.s3.head_object(Bucket=p["bucket"], Key=p["key"], aws_retry=True)
                self.objects.append(s3_object(p["key"], head["ContentLength"], head["ETag"], head.get("StorageClass"),
                                              archived=archived(head)))
                return
            token = None
            while True:
                kw = dict(Bucket=p["bucket"], Prefix=p["prefix"])
                if token:
                    kw["ContinuationToken"] = token
                page = self.s3.list_objects_v2(aws_retry=True, **kw)
                self.objects += [s3_object(o["Key"], o["Size"], o["ETag"], o.get("StorageClass"))
                                 for o in page.get("Contents", []) if not o["Key"].endswith("/")]
                if len(self.objects) > p["max_objects"]:
                    fail_invalid(self.module, "prefix: more than %d objects under %r; narrow the prefix"
                                 % (p["max_objects"], p["prefix"]))
                token = page.get("NextContinuationToken")
                if not token:
                    break
        if not self.objects:
            fail_invalid(self.module, "prefix: no object under s3://%s/%s" % (p["bucket"], p["prefix"]))

    def plan(self):
        """Map each object to its local file and action; INVALID INPUT for everything that would fail."""
        p, problems = self.p, []
        for o in self.objects:
            rel = local_rel(o["key"], p["prefix"])
            if rel is None or not inside(self.root, os.path.join(self.dest, rel)):
                problems.append("%s would land outside %s" % (o["key"], self.dest))
                continue
            o["local"] = os.path.join(self.dest, rel)
            o["before"] = None
            problem = self.compare_local(o)
            if problem:
                problems.append(problem)
        mapped = [o for o in self.objects if "local" in o]
        problems.extend(local_conflicts(dict((o["key"], o["local"]) for o in mapped), self.dest))
        problems.extend(folder_problems([os.path.dirname(o["local"]) for o in mapped if o.get("action") != "none"]))
        problems.extend(self.archived_problems(mapped))
        if problems:
            fail_invalid(self.module, "; ".join(problems))
        for o in self.objects:
            o.pop("archived", None)

    def compare_local(self, o):
        """Set the object's action from its local file; returns a problem, or None."""
        if not os.path.lexists(o["local"]):
            o["action"] = "create"
            return None
        if os.path.islink(o["local"]) or not os.path.isfile(o["local"]):
            return "%s exists and is not a regular file" % o["local"]
        sha, md5, size = digests(o["local"])
        o["before"] = dict(size=size, sha256=sha)
        if size == o["size"] and "-" not in o["etag"] and md5 == o["etag"]:
            o["action"] = "none"
        elif self.p["overwrite"]:
            o["action"] = "overwrite"
        else:
            return "%s exists with other content (set overwrite: true to replace it)" % o["local"]
        return None

    def archived_problems(self, mapped):
        # GetObject of an archived object fails (InvalidObjectState): ask HeadObject, only for the objects listed
        # with a class that may be archived (a single key was already asked), and only for those that will be read.
        problems, bucket = [], self.p["bucket"]
        for o in mapped:
            if o.get("action") == "none":
                continue
            if "archived" not in o and needs_head(o.get("storage_class")):
                with aws_errors(self.module, "Could not read the storage state of s3://%s/%s" % (bucket, o["key"])):
                    o["archived"] = archived(self.s3.head_object(Bucket=bucket, Key=o["key"], aws_retry=True))
            if o.get("archived"):
                problems.append(
                    "s3://%s/%s is archived (%s); restore it first (S3 RestoreObject, e.g. aws s3api restore-object)"
                    ' and plan again once HeadObject shows Restore: ongoing-request="false"'
                    % (bucket, o["key"], o["archived"]))
        return problems

    def report(self, done=False):
        changes = []
        for o in self.objects:
            after = dict(local=o["local"], size=o["size"], etag=o["etag"])
            if o.get("sha256"):
                after["sha256"] = o["sha256"]
            changes.append(dict(resource="s3://%s/%s" % (self.p["bucket"], o["key"]), name=o["local"],
                                action=o["action"], before=o["before"], after=after, changed=o["action"] != "none"))
        return dict(objects=self.objects, ops_changes=changes, changed=any(o["action"] != "none" for o in self.objects),
                    bytes=sum(o["size"] for o in self.objects
                              if o["action"] != "none" and (done or self.module.check_mode)))

    def stage(self):
        """Download every object to a temporary file next to its destination and check its size and MD5."""
        for o in self.objects:
            if o["action"] == "none":
                o["sha256"] = o["before"]["sha256"]
                continue
            folder = os.path.dirname(o["local"])
            missing = []
            path = folder
            while not os.path.lexists(path):
                missing.append(path)
                path = os.path.dirname(path)
            self.created.extend(reversed(missing))  # parents first; removed deepest first on failure
            os.makedirs(folder, exist_ok=True)
            if not inside(self.root, folder):
                raise ValueError("%s leads outside %s" % (folder, self.root))
            fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(o["local"]) + ".part-", dir=folder)
            self.staged.append((tmp, o))
            with os.fdopen(fd, "wb") as f:
                self.s3.download_fileobj(self.p["bucket"], o["key"], f)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # as a plain download would be, not mkstemp's 0600
            sha, md5, size = digests(tmp)
            if size != o["size"]:
                raise ValueError("%s: %d bytes received, %d expected" % (o["key"], size, o["size"]))
            if "-" not in o["etag"] and md5 != o["etag"]:
                raise ValueError("%s: MD5 %s does not match the ETag %s" % (o["key"], md5, o["etag"]))
            o["sha256"] = sha

    def place(self):
        """Every object is staged: keep a hard link to each file about to be replaced (so a failed rename can be
        undone; best effort - a filesystem without hard links only loses that), then rename into place."""
        for tmp, o in self.staged:
            if o["action"] == "overwrite":
                self.backups[o["local"]] = None
                try:
                    os.link(o["local"], tmp + ".old")
                    self.backups[o["local"]] = tmp + ".old"
                except OSError:
                    pass
        for tmp, o in self.staged:
            os.replace(tmp, o["local"])
            self.placed.append(o["local"])

    def download(self):
        """stage and place; on any failure undo everything and fail; drop the kept links on success."""
        try:
            self.stage()
            self.place()
        except (*AWS_ERRORS, OSError, ValueError) as e:
            left = rollback(self.staged, self.placed, self.backups, self.created)
            msg = ("Download failed, nothing was written (every staged file removed): %s" % e if not left else
                   "Download failed and could not be fully undone: %s; check by hand: %s" % (e, ", ".join(left)))
            self.module.fail_json(msg=msg, **self.report())
        for keep in self.backups.values():
            try:
                if keep:
                    os.unlink(keep)
            except OSError:
                pass


def main():
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=[["key", "prefix"]],
                              required_one_of=[["key", "prefix"]], supports_check_mode=True)
    download = Download(module)
    download.check_dest()
    download.list_objects()
    download.plan()
    if module.check_mode:
        module.exit_json(**download.report())
    download.download()
    module.exit_json(**download.report(done=True))


if __name__ == "__main__":
    main()
