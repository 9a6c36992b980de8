# Operations automation collection - GPL-3.0-or-later (as Ansible module_utils are)
"""The transfer engine of STAT-011 / STAT-012 (NAS 本番 ⇄ 保守) and STAT-006 / STAT-007 (release distribution).

Seed 000, 統計分析 rows 11-12: source folder, destination folder, files/folders, compression format and
encryption/decryption as the work request says. Seed 004: personal data that leaves by media or over a line
must be encrypted.

Guarantees (issues #4, #22): every path stays inside its share root, **also while the transfer runs**: nothing is
reached by a path string below a share root. Each root is opened once as a directory handle (``Share``); every
folder below it is opened ``O_DIRECTORY|O_NOFOLLOW`` relative to its parent's handle, and files are opened,
created, renamed and removed with ``dir_fd=`` - so a folder swapped for a symbolic link between the check and the
write is met as a link (``ELOOP``) and refused, never followed out of the share. Where the kernel has
``openat2(2)`` (Linux >= 5.6) a path below a handle is opened in one call with ``RESOLVE_BENEATH |
RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`` (the kernel itself refuses any link and any way out); elsewhere,
or when a container's seccomp profile refuses it, the per-component ``O_NOFOLLOW`` walk gives the same guarantee
(``openat2_in_use()`` says which one a process uses). ``..``, absolute paths and symbolic links anywhere in a
path or a selection are refused: a transfer never follows a link. A source is opened ``O_NOFOLLOW`` and its
``fstat`` (device, inode, size, mtime) compared with what was selected; a file that changed is refused. An
existing destination file is never overwritten unless asked, and then kept as ``<name>.bak-<ticket>``; files
are written under a temporary name (``.<name>.part-<pid>``) and renamed when complete; files are streamed in
4 MiB blocks (bounded memory); SHA-256 manifests of source and destination are compared (the destination's from
bytes read back from the written file; see ``copy_files``).

The share roots themselves come from the inventory (trusted) and are opened as they are named (a mount point,
possibly reached through a link the administrator made). Someone who can write outside the shares can move a
folder out of a share while it is written into; that is outside what this engine defends against.

Test hooks (never active in production): ``TEST_HOOK`` (a callable set by a unit test) or, only when the
environment has ``OPS_TEST_HOOKS=1``, an executable named by ``OPS_TEST_HOOK_NAS_BEFORE_READ`` /
``OPS_TEST_HOOK_NAS_BEFORE_WRITE`` / ``OPS_TEST_HOOK_NAS_BEFORE_RENAME`` is called at those named points of
``copy_files`` with the file's path relative to ``source_dir`` - so a test can swap a folder or file in the middle
of a copy, or hold the copy between two files or while a file's ``.part`` is complete but not renamed yet (and kill
the run there, issue #23), deterministically.

Archives: ``zip`` (AES-256, WinZip AE-2, through pyzipper - opens with 7-Zip), ``7z`` (AES-256 through py7zr),
``tar.gz`` (no encryption). Used by library/nas_transfer.py (role nas_transfer).
"""

from __future__ import annotations

import collections
import errno
import fnmatch
import hashlib
import os
import queue
import stat
import subprocess
import time

BLOCK = 1024 * 1024
COPY_BLOCK = 4 * 1024 * 1024
FORMATS = ("none", "zip", "7z", "tar.gz")
#: Folders below a selected folder that a selection descends into, at most (a deeper tree is refused).
MAX_DEPTH = 64

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC
#: O_NONBLOCK: a FIFO swapped in for a source must not hang the open (no effect on a regular file).
_READ = os.O_RDONLY | _NOFOLLOW | _CLOEXEC | getattr(os, "O_NONBLOCK", 0)
_CREATE = os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC


class TransferError(Exception):
    """``invalid`` is bad input (nothing read or written); ``failed`` went wrong while running."""

    def __init__(self, message, kind="invalid"):
        super().__init__(message)
        self.kind = kind


#: A selected source file. ``rel``: its path relative to ``source_dir`` ('/'-separated); ``path``: absolute (for
#: messages and evidence, never opened); ``size``: bytes; ``root``: the share root as given; ``parts``: its path
#: components below ``root``; ``ident``: (st_dev, st_ino, st_size, st_mtime_ns) when it was selected.
Selected = collections.namedtuple("Selected", "rel path size root parts ident")
#: A place below a share root: ``root`` as given, ``parts`` the path components below it.
Place = collections.namedtuple("Place", "root parts")


def place_path(place):
    """Absolute path of a ``Place`` (for messages and evidence; never opened)."""
    return os.path.join(os.path.realpath(place.root), *place.parts)


def parts_of(rel, what="path"):
    """Components of the relative path ``rel`` ('/' or '\\\\' separated; '' and '.' dropped) as a tuple.

    Raises TransferError naming ``what`` for an absolute path, a NUL byte or a '..' component (checked on the text,
    before anything is opened).
    """
    if rel is None or os.path.isabs(rel) or "\x00" in rel:
        raise TransferError("%s: %r must be relative to its share root" % (what, rel))
    parts = rel.replace("\\", "/").split("/")
    if ".." in parts:
        raise TransferError("%s: %r must not contain '..'" % (what, rel))
    return tuple(p for p in parts if p not in ("", "."))


# --- openat2(2): one call, the kernel refuses links and ways out ----------------------------------------------

_RESOLVE = 0x02 | 0x04 | 0x08  # RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH (linux/openat2.h)
#: openat2's number on the architectures whose table has it at 437 (asm-generic, x86-64, ppc64, s390x).
_SYS_OPENAT2 = {"x86_64": 437, "aarch64": 437, "ppc64le": 437, "ppc64": 437, "s390x": 437, "riscv64": 437}
#: False: never use openat2 (tests set it to exercise the per-component walk); None: not probed yet.
USE_OPENAT2 = True
_openat2_call = None


def _load_openat2():
    """A function (dir_fd, path, flags) -> fd calling openat2(2) through libc's syscall(), or False."""
    import platform
    import sys

    number = _SYS_OPENAT2.get(platform.machine()) if sys.platform.startswith("linux") else None
    if number is None:
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
    except (OSError, AttributeError, ImportError):
        return False
    syscall.restype = ctypes.c_long

    class OpenHow(ctypes.Structure):  # struct open_how (linux/openat2.h)
        _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]

    def call(dir_fd, path, flags):
        how = OpenHow(flags, 0, _RESOLVE)
        fd = syscall(ctypes.c_long(number), ctypes.c_int(dir_fd), os.fsencode(path), ctypes.byref(how),
                     ctypes.c_size_t(ctypes.sizeof(how)))
        if fd < 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e), path)
        return int(fd)

    try:  # probe: "." below the current folder; ENOSYS (old kernel) or EPERM (seccomp) means not available
        os.close(call(-100, ".", os.O_RDONLY | _CLOEXEC))  # -100: AT_FDCWD
    except OSError:
        return False
    return call


def openat2_in_use():
    """True when paths below a handle are opened with openat2(2) RESOLVE_BENEATH in this process."""
    global _openat2_call
    if not USE_OPENAT2:
        return False
    if _openat2_call is None:
        _openat2_call = _load_openat2()
    return bool(_openat2_call)


# --- handles below a share root -------------------------------------------------------------------------------


def _link_message(what, path, root):
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    where = ("that leads outside %s" % root if real != real_root and not real.startswith(real_root + os.sep)
             else "(to %s)" % real)
    return "%s: %s is a symbolic link %s; a transfer never follows links" % (what, path, where)


def blocked_message(folder, blocker, what="dest_dir"):
    return "%s: %s exists and is not a folder, so %s cannot be created there (move it away or choose another %s)" % (
        what, blocker, folder, what)


class Share:
    """A share root opened as a directory handle; everything below it is reached through handles.

    ``root``: the root as given (trusted: the inventory's). Raises OSError when it cannot be opened as a folder.
    Use as a context manager, or ``close()``.
    """

    def __init__(self, root):
        self.root = root
        self.real = os.path.realpath(root)
        self.fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def path(self, parts):
        return os.path.join(self.real, *parts)

    def _refuse(self, err, dir_fd, parts, i, what):
        """TransferError for component ``i`` of ``parts`` (below ``dir_fd``) that could not be opened."""
        shown = self.path(parts[:i + 1])
        try:
            st = os.stat(parts[i], dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            st = None
        if st is not None and stat.S_ISLNK(st.st_mode):
            return TransferError(_link_message(what, shown, self.root))
        if st is not None and not stat.S_ISDIR(st.st_mode) and i < len(parts) - 1:
            return TransferError("%s: %s is not a folder" % (what, shown))
        return TransferError("%s: cannot open %s: %s" % (what, shown, os.strerror(err.errno or errno.EIO)))

    def open(self, parts, flags=_DIR, what="path", create=False, below=None):
        """Handle of ``parts`` below the root (or below ``below``: (handle, its parts below the root)), the caller
        closes it.

        Every folder on the way is opened ``O_DIRECTORY|O_NOFOLLOW`` from its parent (or the whole path with
        openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), the last component with ``flags``. ``create``: missing
        folders are made (mode 0777 less the umask, as os.makedirs) - only with the default folder ``flags``.
        ``parts`` empty: a new handle of the root (or of ``below``).
        Raises FileNotFoundError when a component is missing (and not created); TransferError naming ``what`` for
        a symbolic link or a file where a folder must be.
        """
        base, shown = (self.fd, ()) if below is None else below
        parts = tuple(parts)
        if not parts:
            return os.open(".", _DIR, dir_fd=base)
        if openat2_in_use():
            try:
                return _openat2_call(base, "/".join(parts), flags)
            except OSError as e:
                if e.errno == errno.ENOENT and not create:
                    raise FileNotFoundError(e.errno, e.strerror, self.path(shown + parts)) from None
                # anything else (a link, a file on the way, a missing folder to create): the walk below names it
        fd = base
        try:
            for i, name in enumerate(parts):
                last = i == len(parts) - 1
                try:
                    nfd = os.open(name, flags if last else _DIR, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    try:
                        os.mkdir(name, 0o777, dir_fd=fd)
                    except FileExistsError:  # made by someone else meanwhile: opened (O_NOFOLLOW) below
                        pass
                    try:
                        nfd = os.open(name, flags if last else _DIR, dir_fd=fd)
                    except OSError as e:
                        raise self._refuse(e, fd, shown + parts, len(shown) + i, what) from None
                except OSError as e:
                    if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                        raise self._refuse(e, fd, shown + parts, len(shown) + i, what) from None
                    raise
                if fd != base:
                    os.close(fd)
                fd = nfd
            return fd
        except BaseException:
            if fd != base:
                os.close(fd)
            raise

    def probe(self, parts, what="dest_dir"):
        """Read-only: (handle of the folder ``parts``, None) when it exists, (None, None) when it can be created,
        (None, blocker) when ``blocker`` (an existing non-folder on the way) stops it. TransferError for a link."""
        fd = self.fd
        try:
            for i, name in enumerate(parts):
                try:
                    nfd = os.open(name, _DIR, dir_fd=fd)
                except FileNotFoundError:
                    return None, None
                except OSError as e:
                    try:
                        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    except OSError:
                        st = None
                    if st is not None and not stat.S_ISLNK(st.st_mode) and not stat.S_ISDIR(st.st_mode):
                        return None, self.path(parts[:i + 1])
                    raise self._refuse(e, fd, parts, i, what) from None
                if fd != self.fd:
                    os.close(fd)
                fd = nfd
            return (fd if fd != self.fd else os.open(".", _DIR, dir_fd=self.fd)), None
        except BaseException:
            if fd != self.fd:
                os.close(fd)
            raise


class _Shares:
    """Shares opened once per root for the time of one operation (``get(root)``); ``close()`` closes them."""

    def __init__(self):
        self.open = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def get(self, root):
        if root not in self.open:
            self.open[root] = Share(root)
        return self.open[root]

    def close(self):
        for share in self.open.values():
            share.close()
        self.open.clear()


def _identity(st):
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def open_source(shares, sel, what="items"):
    """(fd, stat) of the selected file ``sel`` (a Selected), opened ``O_NOFOLLOW`` through handles.

    Raises TransferError (kind ``failed``, naming the file) when it is no longer there, is now a link, is not a
    regular file, or its (device, inode, size, mtime) differ from when it was selected.
    """
    share = shares.get(sel.root)
    try:
        fd = share.open(sel.parts, _READ, what)
    except TransferError as e:
        raise TransferError("%s (changed since it was selected; nothing more is read)" % e, kind="failed") from None
    except OSError as e:
        raise TransferError("%s: %s cannot be opened any more: %s (changed since it was selected)"
                            % (what, sel.path, os.strerror(e.errno or errno.EIO)), kind="failed") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or _identity(st) != sel.ident:
            raise TransferError("%s: %s changed since it was selected (another file, size or modification time); "
                                "nothing more is read" % (what, sel.path), kind="failed")
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _sha256_fd(fd):
    """SHA-256 hex of what ``fd`` holds, from its start, read in 1 MiB blocks."""
    h = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    for block in iter(lambda: os.read(fd, BLOCK), b""):
        h.update(block)
    return h.hexdigest()


def sha256_file(path):
    """SHA-256 hex of a file named by a trusted path (tests, benchmarks), read in 1 MiB blocks."""
    fd = os.open(path, os.O_RDONLY | _CLOEXEC)
    try:
        return _sha256_fd(fd)
    finally:
        os.close(fd)


def manifest(files):
    """{rel: sha256} of Selected files, each opened through handles and checked against its selection."""
    out = {}
    with _Shares() as shares:
        for sel in files:
            fd, _st = open_source(shares, sel)
            try:
                out[sel.rel] = _sha256_fd(fd)
            finally:
                os.close(fd)
    return out


# --- selection ---------------------------------------------------------------------------------------------


def _entries(fd):
    """Sorted (name, lstat) of a folder handle's entries (fstatat relative to the handle, links not followed)."""
    with os.scandir(fd) as it:
        return sorted((e.name, e.stat(follow_symlinks=False)) for e in it)


def select(root, source_dir, items):
    """Files selected by ``items`` (file names, folder names or glob patterns, relative to ``source_dir``).

    Returns a list of ``Selected``, sorted by ``rel``. Folders are taken whole (at most MAX_DEPTH levels). Every
    folder is opened through handles (``Share.open``); a symbolic link anywhere - in ``source_dir``, an item, or
    inside a selected folder - is refused, as is anything that is not a regular file or folder. Raises
    TransferError for a missing source, an item that matches nothing, an escape, or an empty selection.
    """
    src_parts = parts_of(source_dir, "source_dir")
    chosen = {}
    with Share(root) as share:
        try:
            base = share.open(src_parts, what="source_dir")
        except (FileNotFoundError, NotADirectoryError):
            raise TransferError("source_dir: %s does not exist" % source_dir) from None

        def add(rel_parts, st):
            path = share.path(src_parts + rel_parts)
            if stat.S_ISLNK(st.st_mode):
                raise TransferError(_link_message("items", path, root))
            if not stat.S_ISREG(st.st_mode):
                raise TransferError("items: %s is not a regular file" % "/".join(rel_parts))
            rel = "/".join(rel_parts)
            chosen[rel] = Selected(rel, path, st.st_size, root, src_parts + rel_parts, _identity(st))

        def take(rel_parts):
            """A file or folder ``rel_parts`` below source_dir (TransferError for a link on the way)."""
            if not rel_parts:
                return walk(os.open(".", _DIR, dir_fd=base), ())
            parent = share.open(rel_parts[:-1], what="items", below=(base, src_parts))
            try:
                st = os.stat(rel_parts[-1], dir_fd=parent, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    try:
                        sub = os.open(rel_parts[-1], _DIR, dir_fd=parent)
                    except OSError as e:
                        raise share._refuse(e, parent, src_parts + rel_parts, len(src_parts + rel_parts) - 1,
                                            "items") from None
                    return walk(sub, rel_parts)
            finally:
                os.close(parent)
            add(rel_parts, st)
            return None

        def walk(fd, rel_parts):
            """Every file below the folder handle ``fd`` (closed here), depth first, at most MAX_DEPTH deep."""
            stack = [(fd, rel_parts, iter(_entries(fd)))]
            try:
                while stack:
                    dfd, prefix, it = stack[-1]
                    entry = next(it, None)
                    if entry is None:
                        os.close(dfd)
                        stack.pop()
                        continue
                    name, st = entry
                    if not stat.S_ISDIR(st.st_mode):
                        add((*prefix, name), st)
                        continue
                    if len(stack) > MAX_DEPTH:
                        raise TransferError("items: %s is more than %d folders deep" % ("/".join(prefix), MAX_DEPTH))
                    try:
                        sub = os.open(name, _DIR, dir_fd=dfd)
                    except OSError as e:
                        raise share._refuse(e, dfd, src_parts + prefix + (name,), len(src_parts + prefix),
                                            "items") from None
                    stack.append((sub, (*prefix, name), iter(_entries(sub))))
            finally:
                for dfd, _prefix, _it in stack:
                    os.close(dfd)

        def exists(rel_parts):
            try:
                parent = share.open(rel_parts[:-1], what="items", below=(base, src_parts))
            except (FileNotFoundError, NotADirectoryError):
                return False
            try:
                os.stat(rel_parts[-1], dir_fd=parent, follow_symlinks=False)
                return True
            except OSError:
                return False
            finally:
                os.close(parent)

        try:
            names = None
            for item in items:
                item_parts = parts_of(item, "items")
                if any(c in item for c in "*?["):
                    if names is None:
                        names = os.listdir(base)
                    matches = sorted(fnmatch.filter(names, item))
                    if not matches and "/" in item:
                        head, pattern = item.rsplit("/", 1)
                        head_parts = parts_of(head, "items")
                        try:
                            sub = share.open(head_parts, what="items", below=(base, src_parts))
                        except (FileNotFoundError, NotADirectoryError):
                            found = []
                        else:
                            try:
                                found = sorted(fnmatch.filter(os.listdir(sub), pattern))
                            finally:
                                os.close(sub)
                        matches = [head + "/" + m for m in found]
                    match_parts = [parts_of(m, "items") for m in matches]
                else:
                    match_parts = [item_parts] if not item_parts or exists(item_parts) else []
                if not match_parts:
                    raise TransferError("items: %r matches nothing in %s" % (item, source_dir))
                for m in match_parts:
                    take(m)
        finally:
            os.close(base)
    if not chosen:
        raise TransferError("items: the selection is empty")
    return [chosen[k] for k in sorted(chosen)]


# --- copy --------------------------------------------------------------------------------------------------


def plan_copy(files, dest_root, dest_dir, ticket, overwrite):
    """What a copy would do: list of dicts (rel, src, dst, size, action create|overwrite|none, backup; and for
    ``copy_files``: ``source`` (the Selected), ``dest`` (a Place: dest_root and the file's parts below it)).

    Reads only, through handles: a link on the way to a destination is refused, a file where a destination
    folder must be is a conflict, and an existing destination file is ``none`` (same content), ``overwrite``
    (with ``overwrite``; the old one kept as ``<name>.bak-<ticket>``) or a conflict. Raises TransferError.
    """
    dparts = parts_of(dest_dir, "dest_dir")
    out, conflicts, reported = [], [], set()
    with Share(dest_root) as dest, _Shares() as sources:
        folder, ffd, blocker = None, None, None
        try:
            for sel in files:
                target = dparts + tuple(sel.rel.split("/"))
                if target[:-1] != folder:
                    if ffd is not None:
                        os.close(ffd)
                        ffd = None
                    folder = target[:-1]
                    ffd, blocker = dest.probe(folder)
                    if blocker and folder not in reported:
                        conflicts.append(blocked_message(dest.path(folder), blocker))
                        reported.add(folder)
                dst = dest.path(target)
                entry = dict(rel=sel.rel, src=sel.path, dst=dst, size=sel.size, action="create", backup=None,
                             source=sel, dest=Place(dest_root, target))
                out.append(entry)
                if ffd is None:
                    continue
                try:
                    st = os.stat(target[-1], dir_fd=ffd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    conflicts.append("%s exists and is not a regular file" % dst)
                elif st.st_size == sel.size and _same_content(ffd, target[-1], sources, sel):
                    entry["action"] = "none"
                elif overwrite:
                    entry.update(action="overwrite", backup="%s.bak-%s" % (dst, ticket))
                else:
                    conflicts.append("%s exists (set overwrite: true to replace it; the old file is kept as .bak-%s)"
                                     % (dst, ticket))
        finally:
            if ffd is not None:
                os.close(ffd)
    if conflicts:
        raise TransferError("; ".join(conflicts))
    return out


def _same_content(folder_fd, name, sources, sel):
    fd = os.open(name, _READ, dir_fd=folder_fd)
    try:
        theirs = _sha256_fd(fd)
    finally:
        os.close(fd)
    sfd, _st = open_source(sources, sel)
    try:
        return _sha256_fd(sfd) == theirs
    finally:
        os.close(sfd)


#: Set by a unit test only: called as TEST_HOOK(point, rel) at the named points of copy_files.
TEST_HOOK = None


def _hook(point, rel):
    """The test hook of ``point`` ("before_read", "before_write", "before_rename"), if a test set one; see the
    module's doc.

    The environment route runs only with ``OPS_TEST_HOOKS=1`` (never set in production): the executable named by
    ``OPS_TEST_HOOK_NAS_<POINT>`` runs with ``rel`` as its argument, and must succeed.
    """
    if TEST_HOOK is not None:
        TEST_HOOK(point, rel)
    elif os.environ.get("OPS_TEST_HOOKS") == "1":
        script = os.environ.get("OPS_TEST_HOOK_NAS_" + point.upper())
        if script:
            subprocess.run([script, rel], check=True)


#: Buffers of COPY_BLOCK bytes that carry large files from the reading to the writing thread and back: the queue
#: depth, one being filled, one being written, one spare. Reused, so a large file costs no allocation per block.
_POOL = 5


class _Stopped(Exception):
    """The writing side gave up; the reading thread ends."""


def _read_sources(actions, out, stop, pool, shares):
    """Reading thread of ``copy_files``: stream every source to the queue ``out`` and hash the bytes read.

    Each source is opened through ``shares`` (``open_source``: O_NOFOLLOW, its fstat compared with the selection)
    after the test hook "before_read"; its size and mtime are compared again once read (a file written meanwhile
    is refused). Messages: ("start", action, stat, hash object); then the file's bytes, either as ("small",
    bytes) - a file shorter than COPY_BLOCK, read with one call - or as ("block", buffer, n) per COPY_BLOCK,
    ``buffer`` a bytearray of ``pool`` holding ``n`` bytes, which the writing thread puts back into ``pool`` once
    written; then ("end",) per file; ("done",) at the end, or ("error", exception). Messages travel in lists of
    about COPY_BLOCK bytes (one hand-over per list, not per small file: a hand-over between threads costs more
    than copying 100 KB). The source is read sequentially (POSIX_FADV_SEQUENTIAL: larger read-ahead) and each
    byte is hashed once, from the buffer it was read into; hashlib releases the GIL, so the hashing of one block
    runs beside the writing of the one before. Ends early when ``stop`` is set.
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
            _hook("before_read", a["rel"])
            fd, st = open_source(shares, a["source"])
            try:
                h = hashlib.sha256()
                put(("start", a, st, h))
                if st.st_size < COPY_BLOCK:
                    # one read; a short read of a regular file is its end, so a second read is needed only when
                    # the file has grown since fstat (then refused below)
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
                after = os.fstat(fd)
                if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
                    raise TransferError("items: %s was written to while it was copied (size or modification time "
                                        "changed); nothing more is copied" % a["src"], kind="failed")
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


def _temp_file(folder_fd, name, pid):
    """Create ``.<name>.part-<pid>`` in the folder handle ``folder_fd`` (O_EXCL, no link followed); (fd, name)."""
    tmp = ".%s.part-%d" % (name, pid)
    for _attempt in range(100):
        try:
            return os.open(tmp, _CREATE, 0o600, dir_fd=folder_fd), tmp
        except FileExistsError:  # left by an earlier run with the same process id: take a fresh random name
            tmp = ".%s.part-%s" % (name, os.urandom(6).hex())
    raise TransferError("cannot create a temporary file for %s" % name, kind="failed")


def _lstat_at(folder_fd, name):
    try:
        return os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _place(folder_fd, a, tmp):
    """Rename the finished temporary file ``tmp`` to its name, both in the folder handle ``folder_fd``; an
    overwritten file becomes its backup first. TransferError (failed) when the destination changed since the
    plan: a file appeared where one was to be created, or what is to be replaced is no longer a regular file."""
    name = a["dest"].parts[-1]
    st = _lstat_at(folder_fd, name)
    if a["action"] != "overwrite":
        if st is not None:
            raise TransferError("%s appeared since the plan; it is not replaced" % a["dst"], kind="failed")
        os.rename(tmp, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
        return
    if st is None or not stat.S_ISREG(st.st_mode):
        raise TransferError("%s is no longer the regular file the plan saw; it is not replaced" % a["dst"],
                            kind="failed")
    backup = os.path.basename(a["backup"])
    os.rename(name, backup, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
    try:
        os.rename(tmp, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
    except OSError:
        os.rename(backup, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)  # the old file back under its name
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


def _stopped_copy(e):
    """A refusal met during the copy (a link or a change found then): kind failed, files before it stay."""
    if isinstance(e, TransferError) and e.kind == "invalid":
        return TransferError("%s; the copy stopped there (files copied before it stay in place)" % e, kind="failed")
    return e


def copy_files(actions, depth=2):
    """Carry out ``plan_copy`` actions. Returns (source manifest, destination manifest): {rel: sha256}.

    Two threads, like rsync's sender and receiver: a reading thread streams each source and computes its SHA-256
    from the bytes read (``_read_sources``); the calling thread opens the destination folder through handles
    (created as needed, every component O_NOFOLLOW: a folder swapped for a link is refused here), writes the
    bytes to ``.<name>.part-<pid>`` in it, reads every block back from that file (``pread`` on the same
    descriptor) and compares it byte for byte with the bytes that were hashed, sets mode and mtime (as
    ``rsync -a``, without xattrs) and renames the file to its name in the same folder handle when complete (an
    overwritten file is first renamed to its backup ``<name>.bak-<ticket>`` and put back if that fails). The
    destination's SHA-256 is the source's by identity when every block read back equal and the size agrees;
    otherwise it is computed from the destination file, so the manifests differ and the caller fails the run.
    Memory is bounded whatever the file sizes: ``depth`` + 2 lists of at most 2 x COPY_BLOCK bytes of small
    files, and _POOL + 1 buffers of COPY_BLOCK bytes for large ones. On an error the reading stops, the
    temporary file of the file being written is removed, files already renamed into place stay, and the error is
    raised (TransferError kind ``failed`` for a link, a changed source or destination met during the copy).
    Test hooks: "before_read" (reading thread), "before_write" and "before_rename" (this thread) per file, see
    ``_hook``.
    """
    import threading

    src_digests, dst_digests = {}, {}
    shares = _Shares()
    try:
        for a in actions:  # every root opened before the reading thread starts
            shares.get(a["source"].root)
            shares.get(a["dest"].root)
        q, stop, pool = queue.Queue(maxsize=depth), threading.Event(), queue.Queue()
        for _ in range(_POOL):
            pool.put(bytearray(COPY_BLOCK))
        check = bytearray(COPY_BLOCK)
        reader = threading.Thread(target=_read_sources, args=(actions, q, stop, pool, shares), name="nas-read")
        reader.daemon = True
        reader.start()
        pid, copies = os.getpid(), []
        fd, folder_fd, tmp, offset, same = -1, -1, None, 0, True
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
                    _hook("before_write", a["rel"])
                    dest = shares.get(a["dest"].root)
                    folder_fd = dest.open(a["dest"].parts[:-1], what="dest_dir", create=True)
                    fd, tmp = _temp_file(folder_fd, a["dest"].parts[-1], pid)
                    offset, same = 0, True
                elif kind == "end":
                    if os.fstat(fd).st_size != offset:
                        same = False
                    os.fchmod(fd, st.st_mode & 0o7777)
                    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
                    os.close(fd)
                    fd = -1
                    _hook("before_rename", a["rel"])  # the whole file is in its .part, not renamed yet
                    _place(folder_fd, a, tmp)
                    tmp = None
                    os.close(folder_fd)
                    folder_fd = -1
                    copies.append((a, h, same))
                elif kind == "error":
                    raise msg[1]
        except BaseException as e:
            stop.set()
            if fd >= 0:
                os.close(fd)
            if tmp is not None:
                try:
                    os.unlink(tmp, dir_fd=folder_fd)
                except OSError:
                    pass
            if folder_fd >= 0:
                os.close(folder_fd)
            err = _stopped_copy(e)
            if err is e:
                raise
            raise err from None
        finally:
            stop.set()
            reader.join()
        for a in actions:
            if a["action"] == "none":
                sfd, _st = open_source(shares, a["source"])
                try:
                    src_digests[a["rel"]] = _sha256_fd(sfd)
                finally:
                    os.close(sfd)
                dst_digests[a["rel"]] = _sha256_at(shares.get(a["dest"].root), a["dest"].parts, a["dst"])
        for a, h, same in copies:
            src_digests[a["rel"]] = h.hexdigest()
            dst_digests[a["rel"]] = (src_digests[a["rel"]] if same
                                     else _sha256_at(shares.get(a["dest"].root), a["dest"].parts, a["dst"]))
    finally:
        shares.close()
    return src_digests, dst_digests


def _sha256_at(share, parts, shown):
    """SHA-256 of the file ``parts`` below ``share`` (opened O_NOFOLLOW through handles)."""
    try:
        fd = share.open(parts, _READ, "dest_dir")
    except OSError as e:
        raise TransferError("%s cannot be read back: %s" % (shown, os.strerror(e.errno or errno.EIO)),
                            kind="failed") from None
    try:
        return _sha256_fd(fd)
    finally:
        os.close(fd)


# --- archives ----------------------------------------------------------------------------------------------


def _as_place(where):
    """A Place from a Place, a Selected, or a trusted path (tests, benchmarks: its folder is then the root)."""
    if isinstance(where, Place):
        return where
    if isinstance(where, Selected):
        return Place(where.root, where.parts)
    path = os.path.abspath(where)
    return Place(os.path.dirname(path), (os.path.basename(path),))


def _open_archive(shares, archive):
    """The archive as a binary file object: a Selected is checked against its selection (``open_source``), a Place
    or path is opened O_NOFOLLOW through handles and must be a regular file."""
    if isinstance(archive, Selected):
        fd, _st = open_source(shares, archive)
    else:
        place = _as_place(archive)
        fd = shares.get(place.root).open(place.parts, _READ, "items")
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise TransferError("items: %s is not a regular file" % place_path(place))
    return os.fdopen(fd, "rb")


def _unchanged(fd, st, sel):
    after = os.fstat(fd)
    if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
        raise TransferError("items: %s was written to while it was archived; nothing more is read" % sel.path,
                            kind="failed")


def _zip_time(mtime):
    t = time.localtime(mtime)[:6]
    return t if t[0] >= 1980 else (1980, 1, 1, 0, 0, 0)  # the zip format starts in 1980


def _write_archive(out, shares, files, fmt, password):
    """Write the Selected ``files`` into the open binary file ``out`` as ``fmt``; every source is opened through
    ``open_source`` (O_NOFOLLOW, checked against its selection) and streamed, never opened by path."""
    import shutil

    if fmt == "zip":
        import pyzipper

        kw = dict(compression=pyzipper.ZIP_DEFLATED)
        if password:
            kw["encryption"] = pyzipper.WZ_AES
        with pyzipper.AESZipFile(out, "w", **kw) as z:
            if password:
                z.setpassword(password.encode("utf-8"))
                z.setencryption(pyzipper.WZ_AES, nbits=256)
            for sel in files:
                fd, st = open_source(shares, sel)
                with os.fdopen(fd, "rb") as src:
                    # as ZipFile.write(path) would: name, time, mode, size (zip64 decided from the size)
                    info = z.zipinfo_cls(sel.rel, date_time=_zip_time(st.st_mtime))  # AESZipInfo
                    info.external_attr = (st.st_mode & 0xFFFF) << 16
                    info.file_size = st.st_size
                    info.compress_type = z.compression
                    with z.open(info, "w") as member:
                        shutil.copyfileobj(src, member, BLOCK)
                    _unchanged(fd, st, sel)
    elif fmt == "7z":
        import py7zr

        with py7zr.SevenZipFile(out, "w", password=password or None, header_encryption=bool(password)) as z:
            for sel in files:
                fd, st = open_source(shares, sel)
                with os.fdopen(fd, "rb") as src:
                    z.writef(src, sel.rel)
                    _unchanged(fd, st, sel)
                _keep_7z_times(z, st)
    else:
        import tarfile

        with tarfile.open(fileobj=out, mode="w:gz") as t:
            for sel in files:
                fd, st = open_source(shares, sel)
                with os.fdopen(fd, "rb") as src:
                    t.addfile(t.gettarinfo(arcname=sel.rel, fileobj=src), src)  # fstat of the handle
                    _unchanged(fd, st, sel)


def _keep_7z_times(z, st):
    """Give the member just written by py7zr's writef (which stamps "now") the source's mtime and mode, as
    SevenZipFile.write(path) does (py7zr 1.x: the member's FileInfoDict is the last of header.files_info.files).
    Best effort: another py7zr keeps its own stamps (the content and its SHA-256 are unaffected)."""
    try:
        from py7zr.helpers import ArchiveTimestamp
        from py7zr.py7zr import MemberType

        info = z.header.files_info.files[-1]
        info["lastwritetime"] = ArchiveTimestamp.from_datetime(st.st_mtime)
        info["attributes"] = MemberType.FILE.attributes(st)
    except (ImportError, AttributeError, IndexError, KeyError, TypeError):
        pass


def make_archive(files, archive, fmt, password=None, backup=None):
    """Write the Selected ``files`` into the archive ``archive`` (a Place below a share root, or a trusted path).

    fmt: zip (AES-256 when a password is given), 7z (AES-256 with encrypted headers when a password is given),
    tar.gz (no password). The archive's folder is opened (created) through handles; the archive is written under
    ``.<name>.part-<pid>`` in it and renamed when complete. An existing archive is renamed to ``backup`` (a file
    name in the same folder) first; without ``backup`` an existing one is not replaced (TransferError, failed).
    Returns the archive's SHA-256 (of the bytes written, read back from the file). Raises TransferError for an
    unknown format or tar.gz with a password.
    """
    if fmt not in ("zip", "7z", "tar.gz"):
        raise TransferError("compression: unknown format %r; use one of %s" % (fmt, ", ".join(FORMATS)))
    if fmt == "tar.gz" and password:
        raise TransferError("encryption: tar.gz cannot be encrypted; use zip or 7z with aes256")
    place = _as_place(archive)
    name = place.parts[-1]
    with _Shares() as shares:
        folder_fd = shares.get(place.root).open(place.parts[:-1], what="dest_dir", create=True)
        tmp = None
        try:
            fd, tmp = _temp_file(folder_fd, name, os.getpid())
            with os.fdopen(fd, "w+b") as out:
                _write_archive(out, shares, files, fmt, password)
                out.flush()
                digest = _sha256_fd(out.fileno())
            if _lstat_at(folder_fd, name) is not None:
                if not backup:
                    raise TransferError("%s appeared since the plan; it is not replaced" % place_path(place),
                                        kind="failed")
                os.rename(name, backup, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
            os.rename(tmp, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
            tmp = None
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp, dir_fd=folder_fd)
                except OSError:
                    pass
            os.close(folder_fd)
    return digest


def remove_file(place):
    """Remove the file ``place`` (a Place or trusted path) through its folder's handle (a link is removed, not
    followed)."""
    place = _as_place(place)
    with Share(place.root) as share:
        folder_fd = share.open(place.parts[:-1], what="dest_dir")
        try:
            os.unlink(place.parts[-1], dir_fd=folder_fd)
        finally:
            os.close(folder_fd)


def _not_a_file(name):
    return TransferError("archive member %s is not a regular file (a link, a device); nothing extracted" % name)


def _members(f, fmt, password):
    """Member file names of the archive open as ``f``. zip and tar.gz list without a password; a 7z with
    encrypted headers needs it (py7zr raises on a wrong one). TransferError for a member that is a link or a
    device (never extracted); folders are left out."""
    f.seek(0)
    if fmt == "zip":
        import pyzipper

        with pyzipper.AESZipFile(f) as z:
            names = []
            for i in z.infolist():
                kind = stat.S_IFMT(i.external_attr >> 16)
                if i.is_dir():
                    continue
                if kind not in (0, stat.S_IFREG):
                    raise _not_a_file(i.filename)
                names.append(i.filename)
            return names
    if fmt == "7z":
        import py7zr

        with py7zr.SevenZipFile(f, "r", password=password or None) as z:
            names = []
            for i in z.list():
                if i.is_directory:
                    continue
                if not i.is_file or i.is_symlink:
                    raise _not_a_file(i.filename)
                names.append(i.filename)
            return names
    import tarfile

    with tarfile.open(fileobj=f, mode="r:gz") as t:
        names = []
        for m in t.getmembers():
            if m.isdir():
                continue
            if not m.isfile():
                raise _not_a_file(m.name)
            names.append(m.name)
        return names


def _open_check(f, fmt, names, password):
    """Prove that ``password`` opens the archive open as ``f`` without extracting it: a zip's encrypted member is
    opened and one byte read (WinZip AES checks its password verifier there), a 7z lists (its headers are
    encrypted) and reads its smallest member. tar.gz has no password. Raises whatever the library raises on a
    wrong one."""
    f.seek(0)
    if fmt == "zip" and names:
        import pyzipper

        with pyzipper.AESZipFile(f) as z:
            info = min((z.getinfo(n) for n in names), key=lambda i: i.compress_size)
            if info.flag_bits & 0x1:  # encrypted member
                if password:
                    z.setpassword(password.encode("utf-8"))
                with z.open(info) as member:
                    member.read(1)
    elif fmt == "7z" and names:
        import py7zr
        from py7zr.io import NullIOFactory

        with py7zr.SevenZipFile(f, "r", password=password or None) as z:
            if z.needs_password():  # decode the smallest member into nothing: a wrong password fails here
                smallest = min((i for i in z.list() if i.is_file), key=lambda i: i.uncompressed)
                z.extract(targets=[smallest.filename], factory=NullIOFactory())


def verify_archive(archive, fmt, password=None):
    """{member: SHA-256} of every file in the archive (a Place or trusted path), streamed: nothing is written.

    Raises TransferError (failed) when it does not open with ``password``.
    """
    with _Shares() as shares, _open_archive(shares, archive) as f:
        try:
            if fmt == "7z":
                import py7zr
                from py7zr.io import HashIOFactory

                factory = HashIOFactory()
                with py7zr.SevenZipFile(f, "r", password=password or None) as z:
                    z.extractall(factory=factory)  # noqa: S202 - into hashes, nothing is written
                return {n: p.hash.hexdigest() for n, p in factory.products.items()}
            digests = {}
            if fmt == "zip":
                import pyzipper

                with pyzipper.AESZipFile(f) as z:
                    if password:
                        z.setpassword(password.encode("utf-8"))
                    for i in z.infolist():
                        if not i.is_dir():
                            with z.open(i) as member:
                                digests[i.filename] = _sha256_stream(member)
                return digests
            import tarfile

            with tarfile.open(fileobj=f, mode="r:gz") as t:
                for m in t.getmembers():
                    if m.isfile():
                        digests[m.name] = _sha256_stream(t.extractfile(m))
            return digests
        except Exception as e:
            raise TransferError("cannot read back %s: %s" % (place_path(_as_place(archive)), e), kind="failed") from e


def _sha256_stream(f):
    h = hashlib.sha256()
    for block in iter(lambda: f.read(BLOCK), b""):
        h.update(block)
    return h.hexdigest()


# --- extraction ---------------------------------------------------------------------------------------------


def check_extract(archive, fmt, dest, password=None, taken=None):
    """What extracting ``archive`` (a Selected, Place or trusted path) into ``dest`` (a Place or trusted path)
    would write, decided without writing anything.

    Returns the member names (relative to ``dest``). Raises TransferError: kind ``failed`` when the archive
    does not open with ``password`` (wrong password or damaged archive) or changed since it was selected; kind
    ``invalid`` for a member that would leave ``dest`` (absolute, '..', a link on the way), is a link or a device,
    appears twice, is more than MAX_DEPTH folders deep, already exists in ``dest`` (extraction never replaces a
    file), or is in ``taken`` ({member: archive}, the members of archives extracted before this one in the same
    run, updated here) - so a plan refuses exactly what the extraction would refuse.
    """
    where = _as_place(dest)
    name = _as_place(archive).parts[-1]
    with _Shares() as shares:
        share = shares.get(where.root)
        dfd, blocker = share.probe(where.parts)
        if blocker:
            raise TransferError(blocked_message(place_path(where), blocker))
        try:
            try:
                with _open_archive(shares, archive) as f:
                    names = _members(f, fmt, password)
                    _open_check(f, fmt, names, password)
            except TransferError:
                raise
            except Exception as e:
                raise TransferError("cannot open %s (wrong password or damaged archive): %s" % (name, e),
                                    kind="failed") from e
            existing, seen = [], set()
            for n in names:
                parts = parts_of(n, "archive member")
                if not parts or len(parts) > MAX_DEPTH:
                    raise TransferError("archive member %r: not a file name of at most %d folders" % (n, MAX_DEPTH))
                if n in seen:
                    raise TransferError("%s appears twice in %s; nothing extracted" % (n, name))
                seen.add(n)
                if taken is not None and n in taken:
                    raise TransferError("%s is in both %s and %s; nothing extracted" % (n, taken[n], name))
                if dfd is not None and _exists_below(share, dfd, parts, where.parts):
                    existing.append(n)
        finally:
            if dfd is not None:
                os.close(dfd)
    if existing:
        shown = ", ".join(existing[:5]) + (" and %d more" % (len(existing) - 5) if len(existing) > 5 else "")
        raise TransferError("%s already exists in %s (extraction never replaces a file: empty dest_dir or choose "
                            "another); nothing extracted" % (shown, place_path(where)))
    if taken is not None:
        taken.update((n, name) for n in names)
    return names


def _exists_below(share, dfd, parts, prefix):
    """True when ``parts`` exists below the folder handle ``dfd`` (``prefix`` below the root; a link counts);
    TransferError for a link or a file on the way."""
    try:
        parent = share.open(parts[:-1], what="archive member", below=(dfd, prefix))
    except FileNotFoundError:
        return False
    try:
        return _lstat_at(parent, parts[-1]) is not None
    finally:
        os.close(parent)


def _extract_into(f, fmt, names, password, share, stage_fd, stage_parts):
    """Write the members ``names`` of the archive open as ``f`` below the folder handle ``stage_fd``: each file
    created O_CREAT|O_EXCL|O_NOFOLLOW in its folder's handle and streamed; nothing is opened by path."""
    import shutil

    wanted = set(names)

    def create(n):
        parts = parts_of(n, "archive member")
        folder = share.open(parts[:-1], what="archive member", create=True, below=(stage_fd, stage_parts))
        try:
            return os.open(parts[-1], _CREATE, 0o666, dir_fd=folder)
        finally:
            os.close(folder)

    f.seek(0)
    if fmt == "zip":
        import pyzipper

        with pyzipper.AESZipFile(f) as z:
            if password:
                z.setpassword(password.encode("utf-8"))
            for n in names:
                with z.open(n) as src, os.fdopen(create(n), "wb") as out:
                    shutil.copyfileobj(src, out, BLOCK)
    elif fmt == "7z":
        import py7zr
        from py7zr.io import Py7zIO, WriterFactory

        opened = []

        class Writer(Py7zIO):
            def __init__(self, fd):
                self.fd = fd
                opened.append(self)

            def write(self, s):
                _write_all(self.fd, memoryview(s))
                return len(s)

            def read(self, size=None):
                return b""

            def seek(self, offset, whence=0):
                return os.lseek(self.fd, offset, whence)

            def flush(self):
                pass

            def size(self):
                return os.fstat(self.fd).st_size

            def close(self):
                if self.fd >= 0:
                    os.close(self.fd)
                    self.fd = -1

        class Factory(WriterFactory):
            def create(self, filename):
                if filename not in wanted:
                    raise TransferError("archive member %s was not listed; nothing extracted" % filename)
                return Writer(create(filename))

        try:
            with py7zr.SevenZipFile(f, "r", password=password or None) as z:
                z.extractall(factory=Factory())  # noqa: S202 - only the checked members, through handles
        finally:
            for w in opened:
                w.close()
    else:
        import tarfile

        with tarfile.open(fileobj=f, mode="r:gz") as t:
            for m in t.getmembers():
                if m.isfile() and m.name in wanted:
                    with os.fdopen(create(m.name), "wb") as out:
                        shutil.copyfileobj(t.extractfile(m), out, BLOCK)


def _remove_tree(parent_fd, name):
    """Remove ``name`` below the folder handle ``parent_fd`` and everything in it, through handles (a link is
    removed, never followed)."""
    try:
        fd = os.open(name, _DIR, dir_fd=parent_fd)
    except FileNotFoundError:
        return
    except OSError:
        os.unlink(name, dir_fd=parent_fd)
        return
    try:
        for entry in list(os.scandir(fd)):
            if entry.is_dir(follow_symlinks=False):
                _remove_tree(fd, entry.name)
            else:
                os.unlink(entry.name, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)


def extract_archive(archive, fmt, dest, password=None):
    """Extract ``archive`` (a Selected, Place or trusted path) into ``dest`` (a Place or trusted path), all or
    nothing. Returns {relative path: sha256}.

    ``check_extract`` runs first: every member is checked before anything is written (no absolute path, no
    '..', no link, no existing file). ``dest`` is opened (created) through handles; members are streamed into a
    temporary folder ``.extract-<random>`` inside it (each file created O_EXCL|O_NOFOLLOW in its folder's
    handle), hashed from the written files, and renamed into place (folder handle to folder handle) only when
    all are extracted; the temporary folder is removed through handles. A wrong password raises
    TransferError(kind="failed") and leaves nothing behind; an existing file is never replaced (a file that
    appears meanwhile stops the extraction: failed).
    """
    names = check_extract(archive, fmt, dest, password)
    where = _as_place(dest)
    with _Shares() as shares:
        share = shares.get(where.root)
        dfd = share.open(where.parts, what="dest_dir", create=True)
        stage = ".extract-%s" % os.urandom(6).hex()
        stage_parts = (*where.parts, stage)
        try:
            os.mkdir(stage, 0o700, dir_fd=dfd)
            sfd = os.open(stage, _DIR, dir_fd=dfd)
            try:
                try:
                    with _open_archive(shares, archive) as f:
                        _extract_into(f, fmt, names, password, share, sfd, stage_parts)
                except TransferError:
                    raise
                except Exception as e:
                    raise TransferError("cannot extract %s (wrong password or damaged archive): %s"
                                        % (_as_place(archive).parts[-1], e), kind="failed") from e
                digests = {}
                for n in names:
                    parts = parts_of(n, "archive member")
                    fd = share.open(parts, _READ, "archive member", below=(sfd, stage_parts))
                    try:
                        digests[n] = _sha256_fd(fd)
                    finally:
                        os.close(fd)
                for n in names:
                    parts = parts_of(n, "archive member")
                    target = share.open(parts[:-1], what="dest_dir", create=True, below=(dfd, where.parts))
                    try:
                        if _lstat_at(target, parts[-1]) is not None:
                            raise TransferError("%s appeared in %s since the check; not replaced"
                                                % (n, place_path(where)), kind="failed")
                        source = share.open(parts[:-1], what="archive member", below=(sfd, stage_parts))
                        try:
                            os.rename(parts[-1], parts[-1], src_dir_fd=source, dst_dir_fd=target)
                        finally:
                            os.close(source)
                    finally:
                        os.close(target)
                return digests
            finally:
                os.close(sfd)
        finally:
            try:
                _remove_tree(dfd, stage)
            finally:
                os.close(dfd)


def probe_target(place, what="dest_dir"):
    """Read-only, through handles: (blocker, existing) for a file to be written at ``place`` (a Place).

    ``blocker``: an existing non-folder on the way to its folder (None when the folder exists or can be made);
    ``existing``: the lstat of what is at ``place`` now, or None. TransferError for a link on the way.
    """
    with Share(place.root) as share:
        fd, blocker = share.probe(place.parts[:-1], what)
        if fd is None:
            return blocker, None
        try:
            return None, _lstat_at(fd, place.parts[-1])
        finally:
            os.close(fd)
