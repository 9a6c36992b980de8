#!/usr/bin/python
# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""NAS transfers between the production and the maintenance share (STAT-011, STAT-012, STAT-006, STAT-007)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nas_transfer
short_description: Copy, archive or extract files between two NAS shares with manifests, check mode and diff
description:
  - Runs on a transfer host that has both shares mounted. Seed 000 統計分析 rows 11-12 (運用作業依頼書 -
    source folder, destination folder, files/folders, compression, encryption/decryption) and rows 6-7
    (release distribution); seed 004 - personal data that leaves by media or over a line is encrypted.
  - Decides first - selects the files (names, folders, glob patterns), refuses any path that leaves its share
    root (C(..), absolute paths) and any symbolic link (never followed, even inside a share), a share root that
    is missing or not mounted, an empty selection and an existing destination file (unless I(overwrite); the old
    file is then kept as C(<name>.bak-<ticket>)). Refusals start with C(INVALID INPUT:).
  - Nothing below a share root is reached by a path string (issue 22) - each root is opened as a directory
    handle, every folder below it O_DIRECTORY|O_NOFOLLOW from its parent's handle (openat2 RESOLVE_BENEATH where
    the kernel has it), files created, renamed and removed with dir_fd; each source is opened O_NOFOLLOW and its
    fstat compared with the selection. A folder or file swapped or changed during the run fails it there,
    naming it; nothing is written outside the share.
  - Then copies (streamed, temporary name, rename when complete), or writes one archive (zip / 7z with AES-256,
    or tar.gz; verified by reading every member back), or extracts archives on arrival; and compares the SHA-256
    manifest of the source with the one of the destination - a mismatch fails the run.
  - Check mode lists every file that would be copied with its size and hash, which would be overwritten, and
    the archive that would be made; for an extraction, every file it would write. It refuses what the real run
    would refuse (module_utils/nas_transfer.py check_extract) - a password that does not open an archive, a
    member that exists in I(dest_dir) (extraction never replaces a file) or is in two archives - so an approved
    plan can run.
  - The engine is module_utils/nas_transfer.py.
options:
  source_root: {description: Share root of the source (absolute)., type: path, required: true}
  dest_root: {description: Share root of the destination (absolute)., type: path, required: true}
  require_mount:
    description: Refuse a share root that is not a mount point (real NAS shares; the sandbox uses folders).
    type: bool
    default: false
  dest_is_share:
    description: The destination root is a NAS share (I(require_mount) applies to it); false for a server's folder.
    type: bool
    default: true
  source_dir: {description: Source folder relative to I(source_root)., type: str, required: true}
  dest_dir: {description: Destination folder relative to I(dest_root)., type: str, required: true}
  items:
    description: Files, folders or glob patterns relative to I(source_dir).
    type: list
    elements: str
    required: true
  compression:
    description: none copies the files; zip, 7z, tar.gz write one archive.
    type: str
    choices: [none, zip, 7z, tar.gz]
    default: none
  encryption:
    description: aes256 encrypts the archive (zip, 7z) with I(password).
    type: str
    choices: [none, aes256]
    default: none
  password: {description: Archive password (never logged)., type: str, no_log: true}
  extract:
    description: The items are archives - extract them into I(dest_dir) (decrypting with I(password)).
    type: bool
    default: false
  archive_name: {description: File name of the archive (default <ticket>.<format>)., type: str}
  overwrite:
    description: Replace existing destination files, keeping the old ones as .bak-<ticket>.
    type: bool
    default: false
  ticket: {description: Work request number (backup suffix, default archive name)., type: str, required: true}
"""

EXAMPLES = r"""
- name: Production to maintenance, encrypted zip
  nas_transfer:
    source_root: /mnt/nas/prod
    dest_root: /mnt/nas/maint
    source_dir: work/2026-11
    dest_dir: from-prod
    items: ["*.csv"]
    compression: zip
    encryption: aes256
    password: "{{ vault_nas_transfer_password }}"
    ticket: REQ-2026-1122-008
"""

RETURN = r"""
files:
  description: One entry per file - rel, size (bytes), sha256, action (create, overwrite, none), destination.
  returned: always
  type: list
source_manifest:
  description: Relative path to SHA-256 of the selected source files.
  returned: always
  type: dict
dest_manifest:
  description: Relative path to SHA-256 of what arrived (archive members for an archive, extracted files on extract).
  returned: when not in check mode
  type: dict
ops_changes:
  description: Evidence entries.
  returned: always
  type: list
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.nas_transfer import (
    Place,
    TransferError,
    blocked_message,
    check_extract,
    copy_files,
    extract_archive,
    make_archive,
    manifest,
    parts_of,
    place_path,
    plan_copy,
    probe_target,
    remove_file,
    select,
    verify_archive,
)
from ansible.module_utils.ops_refusal import fail_invalid, refusal_message

ARGUMENT_SPEC = dict(
    # what is sent, where it goes, in which form
    source_root=dict(type="path", required=True),
    source_dir=dict(type="str", required=True),
    items=dict(type="list", elements="str", required=True),
    dest_root=dict(type="path", required=True),
    dest_dir=dict(type="str", required=True),
    dest_is_share=dict(type="bool", default=True),
    require_mount=dict(type="bool", default=False),
    compression=dict(type="str", choices=["none", "zip", "7z", "tar.gz"], default="none"),
    encryption=dict(type="str", choices=["none", "aes256"], default="none"),
    password=dict(type="str", no_log=True),
    extract=dict(type="bool", default=False),
    archive_name=dict(type="str"),
    overwrite=dict(type="bool", default=False),
    ticket=dict(type="str", required=True),
)

EXT = {"zip": ".zip", "7z": ".7z", "tar.gz": ".tar.gz"}


def archive_format(name):
    for fmt, ext in EXT.items():
        if name.endswith(ext):
            return fmt
    return None


class Transfer:
    """One transfer: ``check`` the request, ``plan`` it (a copy, an archive or an extraction, refusing what the
    apply would refuse), ``act``. ``changes`` (ops_changes), ``entries`` (files), ``src_manifest``."""

    def __init__(self, module):
        self.module, self.p = module, module.params
        self.changes, self.entries, self.src_manifest, self.result = [], [], {}, {}
        self.actions, self.extracts, self.archive, self.dest, self.backup = [], [], None, None, None


    def check(self):
        """The shares are there (and mounted with require_mount); encryption, compression and extract agree."""
        p = self.p
        for key in ("source_root", "dest_root"):
            root = p[key]
            if not os.path.isdir(root):
                fail_invalid(self.module, "%s: the share %s is not there (not mounted?)" % (key, root))
            if p["require_mount"] and (key == "source_root" or p["dest_is_share"]) and not os.path.ismount(root):
                fail_invalid(self.module, "%s: the share %s is not mounted" % (key, root))
        if p["encryption"] == "aes256" and not p["password"]:
            fail_invalid(self.module, "encryption: aes256 needs a password (password_source: vault or env)")
        if p["encryption"] == "aes256" and p["compression"] in ("none", "tar.gz") and not p["extract"]:
            fail_invalid(self.module, "encryption: aes256 needs compression zip or 7z")
        if p["extract"] and p["compression"] != "none":
            fail_invalid(self.module, "extract: the items are archives to extract; leave compression at none")

    @property
    def password(self):
        return self.p["password"] if self.p["encryption"] == "aes256" else None

    def plan(self):
        p = self.p
        try:
            files = select(p["source_root"], p["source_dir"], p["items"])
            # A plain copy hashes each source file while copying it (one read) and re-reads the destination;
            # check mode, archives and extraction hash the sources up front.
            one_pass = p["compression"] == "none" and not p["extract"] and not self.module.check_mode
            self.src_manifest = {} if one_pass else manifest(files)
            self.dest = Place(p["dest_root"], parts_of(p["dest_dir"], "dest_dir"))
            self.dest_path = place_path(self.dest)
            if p["extract"]:
                self.plan_extract(files)
            elif p["compression"] == "none":
                self.plan_copy(files)
            else:
                self.plan_archive(files)
            self.entries = [dict(rel=f.rel, size=f.size, sha256=self.src_manifest.get(f.rel)) for f in files]
        except TransferError as e:
            fail_invalid(self.module, str(e))
        except OSError as e:  # a folder or file of a share that cannot be read (permissions): no traceback
            self.module.fail_json(msg="Transfer failed: %s" % e)
        self.files = files

    def plan_extract(self, files):
        taken = {}
        for f in files:
            fmt = archive_format(f.rel)
            if fmt is None:
                fail_invalid(self.module, "items: %s is not a .zip, .7z or .tar.gz archive" % f.rel)
            self.extracts.append((f, fmt))
            # The same checks as the extraction itself, so that a plan refuses what the apply would refuse:
            # the password opens the archive, no member leaves dest or exists there, no two archives share one.
            members = check_extract(f, fmt, self.dest, self.p["password"], taken)
            self.changes.append(dict(
                resource="nas:%s" % os.path.join(self.dest_path, os.path.basename(f.rel)), action="extract",
                name=f.rel, before=None, after=dict(archive=f.rel, sha256=self.src_manifest[f.rel], size=f.size,
                                                    into=self.dest_path, writes=sorted(members)), changed=True))

    def plan_copy(self, files):
        p = self.p
        self.actions = plan_copy(files, p["dest_root"], p["dest_dir"], p["ticket"], p["overwrite"])
        for a in self.actions:
            self.changes.append(dict(
                resource="nas:%s" % a["dst"], name=a["rel"], action=a["action"],
                before=dict(backup=a["backup"]) if a["backup"] else None,
                after=dict(size=a["size"], sha256=self.src_manifest.get(a["rel"])), changed=a["action"] != "none"))

    def plan_archive(self, files):
        p = self.p
        name = p["archive_name"] or "%s%s" % (p["ticket"], EXT[p["compression"]])
        if "/" in name or name.startswith("."):
            fail_invalid(self.module, "archive_name: %r must be a plain file name" % name)
        self.archive = Place(self.dest.root, self.dest.parts + parts_of(name, "archive_name"))
        shown = place_path(self.archive)
        blocker, existing = probe_target(self.archive)
        if blocker:
            fail_invalid(self.module, blocked_message(self.dest_path, blocker))
        if existing is not None and not p["overwrite"]:
            fail_invalid(self.module, "%s exists (set overwrite: true to replace it; the old one is kept as .bak-%s)"
                         % (shown, p["ticket"]))
        self.backup = "%s.bak-%s" % (name, p["ticket"]) if existing is not None else None
        self.changes.append(dict(
            resource="nas:%s" % shown, name=name, action="overwrite" if existing is not None else "create",
            before=None, after=dict(format=p["compression"], encryption=p["encryption"], members=len(files),
                                    bytes=sum(f.size for f in files)), changed=True))

    def report(self):
        """The result (files, source_manifest, ops_changes, changed; diff in diff mode), kept in ``result``."""
        self.result.update(files=self.entries, source_manifest=self.src_manifest, ops_changes=self.changes,
                           changed=any(c["changed"] for c in self.changes))
        if self.module._diff:
            lines = []
            for c in self.changes:
                after = c["after"] or {}
                lines.append("%s %s %s\n" % (c["action"], c["resource"], after.get("sha256", "")))
                lines.extend("  writes %s\n" % os.path.join(after["into"], n) for n in after.get("writes", []))
            self.result["diff"] = dict(before="", after="".join(lines), after_header="destination")
        return self.result

    def act(self):
        try:
            if self.p["extract"]:
                arrived = {}
                for f, fmt in self.extracts:
                    arrived.update(extract_archive(f, fmt, self.dest, self.p["password"]))
                self.result["dest_manifest"] = arrived
            elif self.p["compression"] == "none":
                self.copy()
            else:
                self.make_archive()
        except TransferError as e:
            self.module.fail_json(msg=refusal_message(e.kind, str(e)), **self.result)
        except OSError as e:
            self.module.fail_json(msg="Transfer failed: %s" % e, **self.result)

    def copy(self):
        copied_from, arrived = copy_files(self.actions)
        self.src_manifest.update(copied_from)
        for c, a in zip(self.changes, self.actions):  # noqa: B905 - same length; modules also run on Python < 3.10
            c["after"]["sha256"] = self.src_manifest[a["rel"]]
        for e in self.entries:
            e["sha256"] = self.src_manifest[e["rel"]]
        self.result["dest_manifest"] = arrived
        if arrived != self.src_manifest:
            bad = sorted(k for k in self.src_manifest if arrived.get(k) != self.src_manifest[k])
            self.module.fail_json(msg="SHA-256 mismatch after the copy: %s" % ", ".join(bad), **self.result)

    def make_archive(self):
        """Write the archive (the old one kept as .bak-<ticket>) and verify it by reading every member back."""
        archive, p = self.archive, self.p
        digest = make_archive(self.files, archive, p["compression"], self.password, backup=self.backup)
        arrived = verify_archive(archive, p["compression"], self.password)
        self.result["dest_manifest"] = arrived
        self.changes[0]["after"]["sha256"] = digest
        if arrived != self.src_manifest:
            remove_file(archive)
            self.module.fail_json(msg="SHA-256 mismatch inside the archive; it was removed", **self.result)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    transfer = Transfer(module)
    transfer.check()
    transfer.plan()
    result = transfer.report()
    if module.check_mode or not result["changed"]:
        module.exit_json(**result)
    transfer.act()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
