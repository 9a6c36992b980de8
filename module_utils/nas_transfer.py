# Operations automation collection - GPL-3.0-or-later (as Ansible module_utils are)
"""The transfer engine of STAT-011 / STAT-012 (NAS 本番 ⇄ 保守) and STAT-006 / STAT-007 (release distribution).

Seed 000, 統計分析 rows 11-12: source folder, destination folder, files/folders, compression format and
encryption/decryption as the work request says. Seed 004: personal data that leaves by media or over a line
must be encrypted.

Guarantees (issue #4): every path stays inside its share root (``..``, absolute paths and symlinks leading
outside are refused before anything is read); an existing destination file is never overwritten unless asked,
and then kept as ``<name>.bak-<ticket>``; files are written under a temporary name and renamed when complete;
files are streamed in 1 MiB blocks (bounded memory); SHA-256 manifests of source and destination are compared.

Archives: ``zip`` (AES-256, WinZip AE-2, through pyzipper - opens with 7-Zip), ``7z`` (AES-256 through py7zr),
``tar.gz`` (no encryption). Status: engine and its tests; the module, role and playbooks come next (issue #4).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import tarfile
import tempfile

BLOCK = 1024 * 1024
COPY_BLOCK = 4 * 1024 * 1024
FORMATS = ("none", "zip", "7z", "tar.gz")


class TransferError(Exception):
    """``invalid`` is bad input (nothing read or written); ``failed`` went wrong while running."""

    def __init__(self, message, kind="invalid"):
        super().__init__(message)
        self.kind = kind


def confine(root, rel, what="path"):
    """Absolute path of ``rel`` under ``root``; TransferError when it is absolute, has '..' or leads outside.

    Symlinks are followed: a link inside the share that points outside it is refused.
    """
    if rel is None or os.path.isabs(rel) or "\x00" in rel:
        raise TransferError("%s: %r must be relative to its share root" % (what, rel))
    parts = rel.replace("\\", "/").split("/")
    if ".." in parts:
        raise TransferError("%s: %r must not contain '..'" % (what, rel))
    real_root = os.path.realpath(root)
    path = os.path.join(real_root, *[p for p in parts if p not in ("", ".")])
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise TransferError("%s: %r leads outside %s (through a symlink)" % (what, rel, root))
    return path


def select(root, source_dir, items):
    """Files selected by ``items`` (file names, folder names or glob patterns, relative to ``source_dir``).

    Returns a sorted list of (path relative to source_dir, absolute path, size in bytes). Folders are taken
    whole. Raises TransferError for a missing source, an item that matches nothing, an escape, or an empty
    selection.
    """
    base = confine(root, source_dir, "source_dir")
    if not os.path.isdir(base):
        raise TransferError("source_dir: %s does not exist" % source_dir)
    chosen = {}

    def add_file(abs_path, walked=False):
        rel = os.path.relpath(abs_path, base)
        # os.walk(followlinks=False) only enters real folders under base: a walked file can leave it only as a
        # symlink, so only symlinks (and named items) pay for a realpath.
        if not walked or os.path.islink(abs_path):
            confine(base, rel, "items")
        if not os.path.isfile(abs_path):
            raise TransferError("items: %s is not a regular file" % rel)
        chosen[rel] = (rel, abs_path, os.path.getsize(abs_path))

    for item in items:
        confine(base, item, "items")
        matches = sorted(fnmatch.filter(os.listdir(base), item)) if any(c in item for c in "*?[") else [item]
        matches = [m for m in matches if os.path.lexists(os.path.join(base, m))]
        if not matches and "/" in item and any(c in item for c in "*?["):
            head, pattern = item.rsplit("/", 1)
            sub = confine(base, head, "items")
            found = sorted(fnmatch.filter(os.listdir(sub), pattern)) if os.path.isdir(sub) else []
            matches = [head + "/" + m for m in found]
        if not matches:
            raise TransferError("items: %r matches nothing in %s" % (item, source_dir))
        for m in matches:
            path = confine(base, m, "items")
            if os.path.isdir(path):
                for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
                    for d in list(dirnames):
                        if os.path.islink(os.path.join(dirpath, d)):
                            confine(base, os.path.relpath(os.path.join(dirpath, d), base), "items")
                    for f in filenames:
                        add_file(os.path.join(dirpath, f), walked=True)
            else:
                add_file(path)
    if not chosen:
        raise TransferError("items: the selection is empty")
    return [chosen[k] for k in sorted(chosen)]


def sha256_file(path):
    """SHA-256 hex of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def manifest(files):
    """{relative path: sha256} of (rel, abs, size) tuples."""
    return {rel: sha256_file(path) for rel, path, _size in files}


def plan_copy(files, dest_root, dest_dir, ticket, overwrite):
    """What a copy would do: list of dicts (rel, src, dst, size, action create|overwrite|none, backup)."""
    dest = confine(dest_root, dest_dir, "dest_dir")
    real_dest = os.path.realpath(dest)
    checked = set()
    out, conflicts = [], []
    for rel, src, size in files:
        dst = os.path.join(dest, rel)  # rel comes from select(): relative, without '..'
        folder = os.path.dirname(dst)
        if folder not in checked:  # one realpath per destination folder, not per file
            real = os.path.realpath(folder)
            if real != real_dest and not real.startswith(real_dest + os.sep):
                raise TransferError("dest_dir: %s leads outside %s (through a symlink)" % (folder, dest_root))
            checked.add(folder)
        entry = dict(rel=rel, src=src, dst=dst, size=size, action="create", backup=None)
        if os.path.lexists(dst):
            if not os.path.isfile(dst) or os.path.islink(dst):
                conflicts.append("%s exists and is not a regular file" % dst)
            elif sha256_file(dst) == sha256_file(src):
                entry["action"] = "none"
            elif overwrite:
                entry.update(action="overwrite", backup="%s.bak-%s" % (dst, ticket))
            else:
                conflicts.append("%s exists (set overwrite: true to replace it; the old file is kept as .bak-%s)"
                                 % (dst, ticket))
        out.append(entry)
    if conflicts:
        raise TransferError("; ".join(conflicts))
    return out


def _stream(src, dst_dir, final_name, pool):
    """Copy ``src`` to a temporary file in ``dst_dir``; return (temp path, source sha256, destination sha256).

    Streams COPY_BLOCK-sized blocks (bounded memory: a few blocks). The source hash is of the bytes read; the
    destination hash is of the bytes read back from the written file. Both are computed by ``pool`` threads
    while the next block is read and written (hashlib releases the GIL).
    """
    os.makedirs(dst_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + final_name + ".part-", dir=dst_dir)
    h_src, h_dst = hashlib.sha256(), hashlib.sha256()
    check = os.open(tmp, os.O_RDONLY)

    def read_back(offset, length):
        h_dst.update(os.pread(check, length, offset))

    try:
        pending = []
        offset = 0
        with os.fdopen(fd, "wb", buffering=0) as out, open(src, "rb", buffering=0) as inp:
            while True:
                block = inp.read(COPY_BLOCK)
                if not block:
                    break
                for f in pending:
                    f.result()
                out.write(block)
                pending = [pool.submit(h_src.update, block), pool.submit(read_back, offset, len(block))]
                offset += len(block)
            for f in pending:
                f.result()
        shutil.copystat(src, tmp)
    except BaseException:
        os.unlink(tmp)
        raise
    finally:
        os.close(check)
    return tmp, h_src.hexdigest(), h_dst.hexdigest()


def copy_files(actions):
    """Carry out ``plan_copy`` actions. Returns (source manifest, destination manifest): {rel: sha256}.

    The source hash is of the bytes read from the source, the destination hash of the bytes read back from the
    written file. A file is written to a temporary name and renamed when complete; an overwritten file is first
    renamed to its backup name. On an error the temporary file of the file being copied is removed.
    """
    from concurrent.futures import ThreadPoolExecutor

    src_digests, dst_digests = {}, {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for a in actions:
            if a["action"] == "none":
                src_digests[a["rel"]] = sha256_file(a["src"])
                dst_digests[a["rel"]] = sha256_file(a["dst"])
                continue
            tmp, src_digest, dst_digest = _stream(a["src"], os.path.dirname(a["dst"]), os.path.basename(a["dst"]),
                                                  pool)
            if a["action"] == "overwrite":
                os.replace(a["dst"], a["backup"])
            os.replace(tmp, a["dst"])
            src_digests[a["rel"]], dst_digests[a["rel"]] = src_digest, dst_digest
    return src_digests, dst_digests


def make_archive(files, archive_path, fmt, password=None):
    """Write ``files`` ((rel, abs, size) tuples) into ``archive_path`` (temporary name, then rename).

    fmt: zip (AES-256 when a password is given), 7z (AES-256 with encrypted headers when a password is given),
    tar.gz (no password). Raises TransferError for an unknown format or tar.gz with a password.
    """
    if fmt not in ("zip", "7z", "tar.gz"):
        raise TransferError("compression: unknown format %r; use one of %s" % (fmt, ", ".join(FORMATS)))
    if fmt == "tar.gz" and password:
        raise TransferError("encryption: tar.gz cannot be encrypted; use zip or 7z with aes256")
    folder = os.path.dirname(archive_path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(archive_path) + ".part-", dir=folder)
    os.close(fd)
    try:
        if fmt == "zip":
            import pyzipper

            kw = dict(compression=pyzipper.ZIP_DEFLATED)
            if password:
                kw["encryption"] = pyzipper.WZ_AES
            with pyzipper.AESZipFile(tmp, "w", **kw) as z:
                if password:
                    z.setpassword(password.encode("utf-8"))
                    z.setencryption(pyzipper.WZ_AES, nbits=256)
                for rel, path, _size in files:
                    z.write(path, arcname=rel.replace(os.sep, "/"))
        elif fmt == "7z":
            import py7zr

            with py7zr.SevenZipFile(tmp, "w", password=password or None, header_encryption=bool(password)) as z:
                for rel, path, _size in files:
                    z.write(path, arcname=rel.replace(os.sep, "/"))
        else:
            with tarfile.open(tmp, "w:gz") as t:
                for rel, path, _size in files:
                    t.add(path, arcname=rel.replace(os.sep, "/"), recursive=False)
        os.replace(tmp, archive_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return sha256_file(archive_path)


def _members(archive_path, fmt, password):
    if fmt == "zip":
        import pyzipper

        with pyzipper.AESZipFile(archive_path) as z:
            return [i.filename for i in z.infolist() if not i.is_dir()]
    if fmt == "7z":
        import py7zr

        with py7zr.SevenZipFile(archive_path, "r", password=password or None) as z:
            return [i.filename for i in z.list() if not i.is_directory]
    with tarfile.open(archive_path, "r:gz") as t:
        return [m.name for m in t.getmembers() if m.isfile()]


def extract_archive(archive_path, fmt, dest, password=None):
    """Extract into ``dest`` (all or nothing). Returns {relative path: sha256}.

    Every member is checked before anything is written (no absolute path, no '..'); members go to a temporary
    folder inside ``dest`` and are moved into place only when all are extracted and verified. A wrong password
    raises TransferError(kind="failed") and leaves nothing behind; an existing file is never replaced.
    """
    try:
        names = _members(archive_path, fmt, password)
    except Exception as e:
        raise TransferError("cannot open %s: %s" % (os.path.basename(archive_path), e), kind="failed") from e
    for n in names:
        confine(dest, n, "archive member")
        if os.path.lexists(os.path.join(dest, n)):
            raise TransferError("%s already exists in %s; nothing extracted" % (n, dest))
    os.makedirs(dest, exist_ok=True)
    stage = tempfile.mkdtemp(prefix=".extract-", dir=dest)
    try:
        try:
            if fmt == "zip":
                import pyzipper

                with pyzipper.AESZipFile(archive_path) as z:
                    if password:
                        z.setpassword(password.encode("utf-8"))
                    for n in names:
                        target = confine(stage, n, "archive member")
                        os.makedirs(os.path.dirname(target), exist_ok=True)
                        with z.open(n) as src, open(target, "wb") as out:
                            shutil.copyfileobj(src, out, BLOCK)
            elif fmt == "7z":
                import py7zr

                with py7zr.SevenZipFile(archive_path, "r", password=password or None) as z:
                    z.extractall(path=stage)  # noqa: S202 - members checked by confine() above
            else:
                with tarfile.open(archive_path, "r:gz") as t:
                    # members checked by confine() above; the "data" filter refuses links and odd modes too
                    t.extractall(stage, members=[m for m in t.getmembers() if m.isfile()], filter="data")
        except TransferError:
            raise
        except Exception as e:
            raise TransferError("cannot extract %s (wrong password or damaged archive): %s"
                                % (os.path.basename(archive_path), e), kind="failed") from e
        digests = {}
        for n in names:
            src = confine(stage, n, "archive member")
            digests[n] = sha256_file(src)
        for n in names:
            target = os.path.join(dest, n)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(confine(stage, n, "archive member"), target)
        return digests
    finally:
        shutil.rmtree(stage, ignore_errors=True)
