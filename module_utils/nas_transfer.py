# Operations automation collection - GPL-3.0-or-later (as Ansible module_utils are)
"""The transfer engine of STAT-011 / STAT-012 (NAS 本番 ⇄ 保守) and STAT-006 / STAT-007 (release distribution).

Seed 000, 統計分析 rows 11-12: source folder, destination folder, files/folders, compression format and
encryption/decryption as the work request says. Seed 004: personal data that leaves by media or over a line
must be encrypted.

Guarantees (issue #4): every path stays inside its share root (``..``, absolute paths and symlinks leading
outside are refused before anything is read); an existing destination file is never overwritten unless asked,
and then kept as ``<name>.bak-<ticket>``; files are written under a temporary name and renamed when complete;
files are streamed in 4 MiB blocks (bounded memory); SHA-256 manifests of source and destination are compared
(the destination's from bytes read back from the written file; see ``copy_files``).

Archives: ``zip`` (AES-256, WinZip AE-2, through pyzipper - opens with 7-Zip), ``7z`` (AES-256 through py7zr),
``tar.gz`` (no encryption). Used by library/nas_transfer.py (role nas_transfer).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import queue
import shutil
import tarfile
import tempfile

from ansible.module_utils.ops_paths import nearest_existing

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


def in_the_way(path):
    """What stops ``path`` from being (or being created as) a folder: its first existing component - ``path``
    itself or an ancestor - when that is not a directory (a file, a broken symlink); None otherwise. Read-only,
    so a plan refuses what the apply's ``os.makedirs`` would fail on (see ops_paths.nearest_existing)."""
    probe = nearest_existing(path)
    return None if os.path.isdir(probe) else probe


def blocked_message(folder, blocker, what="dest_dir"):
    return "%s: %s exists and is not a folder, so %s cannot be created there (move it away or choose another %s)" % (
        what, blocker, folder, what)


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
            blocker = in_the_way(folder)
            if blocker:
                conflicts.append(blocked_message(folder, blocker))
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


_CREATE = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
#: Buffers of COPY_BLOCK bytes that carry large files from the reading to the writing thread and back: the queue
#: depth, one being filled, one being written, one spare. Reused, so a large file costs no allocation per block.
_POOL = 5


class _Stopped(Exception):
    """The writing side gave up; the reading thread ends."""


def _read_sources(actions, out, stop, pool):
    """Reading thread of ``copy_files``: stream every source to the queue ``out`` and hash the bytes read.

    Messages: ("start", action, stat, hash object); then the file's bytes, either as ("small", bytes) - a file
    shorter than COPY_BLOCK, read with one call - or as ("block", buffer, n) per COPY_BLOCK, ``buffer`` a
    bytearray of ``pool`` holding ``n`` bytes, which the writing thread puts back into ``pool`` once written;
    then ("end",) per file; ("done",) at the end, or ("error", exception). Messages travel in lists of about
    COPY_BLOCK bytes (one hand-over per list, not per small file: a hand-over between threads costs more than
    copying 100 KB). The source is read sequentially (POSIX_FADV_SEQUENTIAL: larger read-ahead) and each byte
    is hashed once, from the buffer it was read into; hashlib releases the GIL, so the hashing of one block runs
    beside the writing of the one before. Ends early when ``stop`` is set.
    """
    batch, size = [], [0]

    def wait(get):
        while True:
            if stop.is_set():
                raise _Stopped()
            try:
                return get()
            except (queue.Full, queue.Empty):
                pass

    def flush():
        wait(lambda: out.put(list(batch), timeout=0.2))
        del batch[:]
        size[0] = 0

    def put(msg, nbytes=0):
        batch.append(msg)
        size[0] += nbytes
        if size[0] >= COPY_BLOCK:
            flush()

    advise = getattr(os, "posix_fadvise", None)
    try:
        for a in actions:
            if a["action"] == "none":
                continue
            fd = os.open(a["src"], os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            try:
                st = os.fstat(fd)
                h = hashlib.sha256()
                put(("start", a, st, h))
                if st.st_size < COPY_BLOCK:
                    # one read; a short read of a regular file is its end, so a second read is needed only when
                    # the file has grown since fstat
                    data = os.read(fd, st.st_size + 1)
                    while len(data) > st.st_size:
                        more = os.read(fd, COPY_BLOCK)
                        if not more:
                            break
                        data += more
                    h.update(data)
                    put(("small", data), len(data))
                else:
                    if advise is not None:
                        advise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
                    while True:
                        buf = wait(lambda: pool.get(timeout=0.2))
                        n = os.readv(fd, [buf])
                        if not n:
                            pool.put(buf)
                            break
                        h.update(memoryview(buf)[:n])  # releases the GIL: runs beside the writing thread
                        put(("block", buf, n), n)
            finally:
                os.close(fd)
            put(("end",))
        put(("done",))
        flush()
    except _Stopped:
        pass
    except BaseException as e:  # noqa: BLE001 - handed to the writing thread, which raises it
        try:
            del batch[:]
            batch.append(("error", e))
            flush()
        except _Stopped:
            pass


def _temp_file(folder, name, pid):
    """Create ``.<name>.part-<pid>`` in ``folder`` (O_EXCL, no symlink followed); (fd, path)."""
    path = os.path.join(folder, ".%s.part-%d" % (name, pid))
    try:
        return os.open(path, _CREATE, 0o600), path
    except FileExistsError:  # left by an earlier run with the same process id: take a fresh random name
        return tempfile.mkstemp(prefix=".%s.part-" % name, dir=folder)


def _place(a, tmp):
    """Rename the finished temporary file to its name; an overwritten file becomes its backup first."""
    if a["action"] != "overwrite":
        os.replace(tmp, a["dst"])
        return
    os.replace(a["dst"], a["backup"])
    try:
        os.replace(tmp, a["dst"])
    except OSError:
        os.replace(a["backup"], a["dst"])  # the old file back under its name
        raise


def _messages(q):
    """The reading thread's messages in order, up to ("done",)."""
    while True:
        for msg in q.get():
            if msg[0] == "done":
                return
            yield msg


def _write_all(fd, view):
    while view:  # os.write may write less than asked
        view = view[os.write(fd, view):]


def _reads_back(fd, data, n, offset, check):
    """True when the ``n`` bytes of ``data`` just written at ``offset`` read back from ``fd`` the same.

    ``check`` is a bytearray of COPY_BLOCK bytes to read into (``os.preadv``: no allocation per block); equal
    lengths compare with one memcmp (bytearray ==; a memoryview compares item by item, 100x slower).
    """
    if n == len(check) == len(data):
        return os.preadv(fd, [check], offset) == n and check == data
    got = os.pread(fd, n, offset)
    return got == (data if n == len(data) else bytes(memoryview(data)[:n]))


def copy_files(actions, depth=2):
    """Carry out ``plan_copy`` actions. Returns (source manifest, destination manifest): {rel: sha256}.

    Two threads, like rsync's sender and receiver: a reading thread streams each source and computes its SHA-256
    from the bytes read (``_read_sources``); the calling thread writes them to ``.<name>.part-<pid>`` in the
    destination folder, reads every block back from that file (``pread`` on the same descriptor) and compares
    it byte for byte with the bytes that were hashed, sets mode and mtime (as ``rsync -a``, without xattrs) and
    renames the file to its name when complete (an overwritten file is first renamed to its backup
    ``<name>.bak-<ticket>`` and put back if that fails). The destination's SHA-256 is the source's by identity
    when every block read back equal and the size agrees; otherwise it is computed from the destination file,
    so the manifests differ and the caller fails the run. Memory is bounded whatever the file sizes: ``depth``
    + 2 lists of at most 2 x COPY_BLOCK bytes of small files, and _POOL + 1 buffers of COPY_BLOCK bytes for large
    ones. On an error the reading stops, the temporary file of the file being written is removed, files already
    renamed into place stay, and the error is raised.
    """
    import threading

    src_digests, dst_digests = {}, {}
    q, stop, pool = queue.Queue(maxsize=depth), threading.Event(), queue.Queue()
    for _ in range(_POOL):
        pool.put(bytearray(COPY_BLOCK))
    check = bytearray(COPY_BLOCK)
    reader = threading.Thread(target=_read_sources, args=(actions, q, stop, pool), name="nas-read")
    reader.daemon = True
    reader.start()
    pid, made, copies = os.getpid(), set(), []
    fd, tmp, offset, same = -1, None, 0, True
    try:
        for msg in _messages(q):
            kind = msg[0]
            if kind == "block":
                buf, n = msg[1], msg[2]
                try:
                    _write_all(fd, memoryview(buf)[:n])
                    if same and not _reads_back(fd, buf, n, offset, check):
                        same = False
                finally:
                    pool.put(buf)
                offset += n
            elif kind == "small":
                data = msg[1]
                _write_all(fd, memoryview(data))
                if same and data and os.pread(fd, len(data), offset) != data:
                    same = False
                offset += len(data)
            elif kind == "start":
                a, st, h = msg[1], msg[2], msg[3]
                folder = os.path.dirname(a["dst"])
                if folder not in made:
                    os.makedirs(folder, exist_ok=True)
                    made.add(folder)
                fd, tmp = _temp_file(folder, os.path.basename(a["dst"]), pid)
                offset, same = 0, True
            elif kind == "end":
                if os.fstat(fd).st_size != offset:
                    same = False
                os.fchmod(fd, st.st_mode & 0o7777)
                os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
                os.close(fd)
                fd = -1
                _place(a, tmp)
                tmp = None
                copies.append((a, h, same))
            elif kind == "error":
                raise msg[1]
    except BaseException:
        stop.set()
        if fd >= 0:
            os.close(fd)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise
    finally:
        stop.set()
        reader.join()
    for a in actions:
        if a["action"] == "none":
            src_digests[a["rel"]] = sha256_file(a["src"])
            dst_digests[a["rel"]] = sha256_file(a["dst"])
    for a, h, same in copies:
        src_digests[a["rel"]] = h.hexdigest()
        dst_digests[a["rel"]] = src_digests[a["rel"]] if same else sha256_file(a["dst"])
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
    """Member file names of an archive. zip and tar.gz list without a password; a 7z with encrypted headers
    needs it (py7zr raises on a wrong one)."""
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


def _open_check(archive_path, fmt, names, password):
    """Prove that ``password`` opens the archive without extracting it: a zip's encrypted member is opened and
    one byte read (WinZip AES checks its password verifier there), a 7z lists (its headers are encrypted) and
    reads its smallest member. tar.gz has no password. Raises whatever the library raises on a wrong one."""
    if fmt == "zip" and names:
        import pyzipper

        with pyzipper.AESZipFile(archive_path) as z:
            info = min((z.getinfo(n) for n in names), key=lambda i: i.compress_size)
            if info.flag_bits & 0x1:  # encrypted member
                if password:
                    z.setpassword(password.encode("utf-8"))
                with z.open(info) as member:
                    member.read(1)
    elif fmt == "7z" and names:
        import py7zr
        from py7zr.io import NullIOFactory

        with py7zr.SevenZipFile(archive_path, "r", password=password or None) as z:
            if z.needs_password():  # decode the smallest member into nothing: a wrong password fails here
                smallest = min((i for i in z.list() if not i.is_directory), key=lambda i: i.uncompressed)
                z.extract(targets=[smallest.filename], factory=NullIOFactory())


def check_extract(archive_path, fmt, dest, password=None, taken=None):
    """What extracting ``archive_path`` into ``dest`` would write, decided without writing anything.

    Returns the member names (relative to ``dest``). Raises TransferError: kind ``failed`` when the archive
    does not open with ``password`` (wrong password or damaged archive); kind ``invalid`` for a member that
    would leave ``dest`` (absolute, '..', through a symlink), that already exists in ``dest`` (extraction never
    replaces a file), or that is in ``taken`` ({member: archive}, the members of archives extracted before this
    one in the same run, updated here) - so a plan refuses exactly what the extraction would refuse.
    """
    name = os.path.basename(archive_path)
    blocker = in_the_way(dest)
    if blocker:
        raise TransferError(blocked_message(dest, blocker))
    try:
        names = _members(archive_path, fmt, password)
        _open_check(archive_path, fmt, names, password)
    except Exception as e:
        raise TransferError("cannot open %s (wrong password or damaged archive): %s" % (name, e),
                            kind="failed") from e
    existing = []
    for n in names:
        confine(dest, n, "archive member")
        if taken is not None and n in taken:
            raise TransferError("%s is in both %s and %s; nothing extracted" % (n, taken[n], name))
        if os.path.lexists(os.path.join(dest, n)):
            existing.append(n)
    if existing:
        shown = ", ".join(existing[:5]) + (" and %d more" % (len(existing) - 5) if len(existing) > 5 else "")
        raise TransferError("%s already exists in %s (extraction never replaces a file: empty dest_dir or choose "
                            "another); nothing extracted" % (shown, dest))
    if taken is not None:
        taken.update((n, name) for n in names)
    return names


def extract_archive(archive_path, fmt, dest, password=None):
    """Extract into ``dest`` (all or nothing). Returns {relative path: sha256}.

    ``check_extract`` runs first: every member is checked before anything is written (no absolute path, no
    '..', no existing file); members go to a temporary folder inside ``dest`` and are moved into place only when
    all are extracted and verified. A wrong password raises TransferError(kind="failed") and leaves nothing
    behind; an existing file is never replaced.
    """
    names = check_extract(archive_path, fmt, dest, password)
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
