"""module_utils/nas_transfer.py: confinement, no silent overwrite, atomic copies, archives that 7-Zip opens."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils import nas_transfer as nas

from ops_driver.paths import project_root

SEVEN_ZIP = shutil.which("7z")
needs_7z = pytest.mark.skipif(SEVEN_ZIP is None and not os.environ.get("CI"),
                              reason="7z (Debian p7zip-full) is installed by `make test`; run that")
PASSWORD = "correct horse battery staple"


@pytest.fixture()
def shares(tmp_path: Path) -> tuple[Path, Path]:
    prod, maint = tmp_path / "prod", tmp_path / "maint"
    (prod / "work" / "sub").mkdir(parents=True)
    maint.mkdir()
    (prod / "work" / "a.csv").write_text("id,name\n1,sato\n")
    (prod / "work" / "b.csv").write_text("id,name\n2,suzuki\n")
    (prod / "work" / "sub" / "c.txt").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    return prod, maint


def test_selection_of_files_folders_and_globs(shares: tuple[Path, Path]) -> None:
    prod, _ = shares
    rels = [f.rel for f in nas.select(str(prod), "work", ["*.csv", "sub"])]
    assert rels == ["a.csv", "b.csv", "sub/c.txt"]


@pytest.mark.parametrize("source_dir, items, needle", [
    ("../etc", ["x"], "must not contain '..'"),
    ("/etc", ["x"], "must be relative"),
    ("work", ["../../x"], "must not contain '..'"),
    ("work", ["nothing*"], "matches nothing"),
    ("missing", ["a"], "does not exist"),
])
def test_refusals(shares: tuple[Path, Path], source_dir: str, items: list[str], needle: str) -> None:
    with pytest.raises(nas.TransferError, match=needle):
        nas.select(str(shares[0]), source_dir, items)


def test_symlinks_leading_outside_are_refused(shares: tuple[Path, Path], tmp_path: Path) -> None:
    prod, _ = shares
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the NAS")
    (prod / "work" / "link.txt").symlink_to(secret)
    with pytest.raises(nas.TransferError, match="leads outside"):
        nas.select(str(prod), "work", ["link.txt"])
    (prod / "work" / "link.txt").unlink()
    (prod / "work" / "dirlink").symlink_to(tmp_path)
    with pytest.raises(nas.TransferError, match="leads outside"):
        nas.select(str(prod), "work", ["*"])


def test_copy_never_overwrites_silently_and_keeps_a_backup(shares: tuple[Path, Path]) -> None:
    prod, maint = shares
    files = nas.select(str(prod), "work", ["a.csv", "sub"])
    actions = nas.plan_copy(files, str(maint), "in", "REQ-1", overwrite=False)
    assert [a["action"] for a in actions] == ["create", "create"]
    src, dst = nas.copy_files(actions)
    assert src == dst == nas.manifest(files)  # read-back destination hashes equal the source's
    assert not [p for p in maint.rglob(".*part-*")]
    assert [a["action"] for a in nas.plan_copy(files, str(maint), "in", "REQ-1", False)] == ["none", "none"]
    (prod / "work" / "a.csv").write_text("id,name\n1,sato-changed\n")
    with pytest.raises(nas.TransferError, match=r"a\.csv changed since it was selected"):
        nas.plan_copy(files, str(maint), "in", "REQ-2", overwrite=False)  # a selection is what was seen then
    files = nas.select(str(prod), "work", ["a.csv", "sub"])
    with pytest.raises(nas.TransferError, match="set overwrite: true"):
        nas.plan_copy(files, str(maint), "in", "REQ-2", overwrite=False)
    actions = nas.plan_copy(files, str(maint), "in", "REQ-2", overwrite=True)
    nas.copy_files(actions)
    assert (maint / "in" / "a.csv").read_text() == "id,name\n1,sato-changed\n"
    assert (maint / "in" / "a.csv.bak-REQ-2").read_text() == "id,name\n1,sato\n"


INTERRUPTED = r"""
import json, resource, signal, sys
sys.path.insert(0, sys.argv[1])
from tests.support.modules import module_util
nas = module_util("nas_transfer")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, 1024 * 1024))
actions = nas.plan_copy(nas.select(sys.argv[2], "work", ["*.csv", "sub"]), sys.argv[3], "in", "REQ-1", False)
try:
    nas.copy_files(actions)
except OSError as e:
    print(json.dumps({"errno": e.errno}))
"""


def test_an_interrupted_copy_leaves_no_half_file(shares: tuple[Path, Path]) -> None:
    """A real write failure (the file size limit hit mid-file) leaves no half file and no temporary file."""
    prod, maint = shares
    out = subprocess.run(
        [sys.executable, "-c", INTERRUPTED, str(project_root()), str(prod),
         str(maint)], capture_output=True, text=True, check=True,
    )
    assert json.loads(out.stdout) == {"errno": errno.EFBIG}
    left = sorted(p.relative_to(maint).as_posix() for p in maint.rglob("*") if p.is_file())
    assert "in/sub/c.txt" not in left and not [p for p in left if ".part-" in p]
    assert set(left) <= {"in/a.csv", "in/b.csv"}  # files finished before the failure are complete, under their name
    for rel in left:
        assert (maint / rel).read_bytes() == (prod / "work" / Path(rel).name).read_bytes()


def test_copy_keeps_mode_and_mtime_and_hashes_every_byte_of_many_block_files(shares: tuple[Path, Path]) -> None:
    prod, maint = shares
    big = prod / "work" / "sub" / "c.txt"
    big.write_bytes(os.urandom(3 * nas.COPY_BLOCK + 17))  # several blocks and a short last one
    big.chmod(0o640)
    os.utime(big, ns=(1_600_000_000_000_000_000, 1_600_000_000_123_456_789))
    files = nas.select(str(prod), "work", ["*.csv", "sub"])
    src, dst = nas.copy_files(nas.plan_copy(files, str(maint), "in", "REQ-1", False))
    assert src == dst == {f.rel: hashlib.sha256(Path(f.path).read_bytes()).hexdigest() for f in files}
    copied = (maint / "in" / "sub" / "c.txt").stat()
    assert copied.st_mode & 0o7777 == 0o640 and copied.st_mtime_ns == 1_600_000_000_123_456_789


def _corrupt_pread(real: Any) -> Any:
    def pread(fd: int, n: int, offset: int) -> bytes:
        data = real(fd, n, offset)
        return bytes([data[0] ^ 0xFF]) + data[1:]

    return pread


def _corrupt_preadv(real: Any) -> Any:
    def preadv(fd: int, buffers: list[bytearray], offset: int) -> int:
        n = real(fd, buffers, offset)
        buffers[0][0] ^= 0xFF
        return int(n)

    return preadv


@pytest.mark.parametrize("size, call, corrupt", [
    (None, "pread", _corrupt_pread),  # a small file: read back with os.pread
    (2 * nas.COPY_BLOCK + 5, "preadv", _corrupt_preadv),  # full blocks: read back into a reused buffer
])
def test_a_block_that_reads_back_differently_is_hashed_from_the_written_file(
    shares: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, size: int | None, call: str, corrupt: Any
) -> None:
    """The destination hash equals the source's only when every block read back equals what was written."""
    prod, maint = shares
    big = prod / "work" / "sub" / "c.txt"
    if size is not None:
        big.write_bytes(os.urandom(size))
    files = nas.select(str(prod), "work", ["sub"])
    hashed: list[str] = []
    real_read, real_sha = getattr(os, call), nas._sha256_at

    def recording_sha(share: Any, parts: tuple[str, ...], shown: str) -> str:
        hashed.append(shown)
        return str(real_sha(share, parts, shown))

    monkeypatch.setattr(nas, "_sha256_at", recording_sha)
    monkeypatch.setattr(nas.os, call, corrupt(real_read))
    try:
        src, dst = nas.copy_files(nas.plan_copy(files, str(maint), "in", "REQ-1", False))
    finally:
        monkeypatch.setattr(nas.os, call, real_read)
    assert hashed == [str(maint / "in" / "sub" / "c.txt")]  # the written file itself, not the source's digest
    assert dst == src == {"sub/c.txt": hashlib.sha256(big.read_bytes()).hexdigest()}  # intact on disk


@pytest.mark.parametrize("fmt, password", [("zip", PASSWORD), ("7z", PASSWORD), ("zip", None), ("tar.gz", None)])
def test_archive_round_trip(shares: tuple[Path, Path], tmp_path: Path, fmt: str, password: str | None) -> None:
    prod, maint = shares
    files = nas.select(str(prod), "work", ["*.csv", "sub"])
    archive = maint / f"out.{fmt}"
    nas.make_archive(files, str(archive), fmt, password)
    assert not [p for p in maint.glob(".*part-*")]
    digests = nas.extract_archive(str(archive), fmt, str(tmp_path / "x"), password)
    assert digests == nas.manifest(files)


def test_tar_gz_refuses_a_password_and_unknown_formats(shares: tuple[Path, Path]) -> None:
    files = nas.select(str(shares[0]), "work", ["a.csv"])
    with pytest.raises(nas.TransferError, match=r"tar\.gz cannot be encrypted"):
        nas.make_archive(files, str(shares[1] / "x.tgz"), "tar.gz", PASSWORD)
    with pytest.raises(nas.TransferError, match="unknown format 'rar'"):
        nas.make_archive(files, str(shares[1] / "x.rar"), "rar")


@pytest.mark.parametrize("fmt", ["zip", "7z"])
def test_wrong_password_fails_and_leaves_nothing(shares: tuple[Path, Path], tmp_path: Path, fmt: str) -> None:
    files = nas.select(str(shares[0]), "work", ["*.csv", "sub"])
    archive = tmp_path / f"a.{fmt}"
    nas.make_archive(files, str(archive), fmt, PASSWORD)
    dest = tmp_path / "dest"
    with pytest.raises(nas.TransferError) as e:
        nas.extract_archive(str(archive), fmt, str(dest), "wrong password")
    assert e.value.kind == "failed"
    assert not dest.exists() or list(dest.rglob("*")) == []


@needs_7z
@pytest.mark.parametrize("fmt", ["zip", "7z"])
def test_our_aes_archives_open_with_7zip(shares: tuple[Path, Path], tmp_path: Path, fmt: str) -> None:
    files = nas.select(str(shares[0]), "work", ["*.csv", "sub"])
    archive = tmp_path / f"ours.{fmt}"
    nas.make_archive(files, str(archive), fmt, PASSWORD)
    listing = subprocess.run([str(SEVEN_ZIP), "l", "-slt", f"-p{PASSWORD}", str(archive)], capture_output=True,
                             text=True, check=True).stdout
    assert ("AES-256" if fmt == "zip" else "7zAES") in listing  # 7zAES is 7-Zip's name for its AES-256 coder
    assert "Encrypted = +" in listing
    out = tmp_path / "by7z"
    subprocess.run([str(SEVEN_ZIP), "x", f"-p{PASSWORD}", f"-o{out}", str(archive)], capture_output=True, check=True)
    assert {str(p.relative_to(out)): nas.sha256_file(str(p)) for p in out.rglob("*") if p.is_file()} == \
        nas.manifest(files)
    bad = subprocess.run([str(SEVEN_ZIP), "t", "-pwrong", str(archive)], capture_output=True, text=True)
    assert bad.returncode != 0


@needs_7z
@pytest.mark.parametrize("fmt, switches", [("zip", ["-tzip", "-mem=AES256"]), ("7z", ["-t7z", "-mhe=on"])])
def test_archives_made_by_7zip_extract_here(shares: tuple[Path, Path], tmp_path: Path, fmt: str,
                                            switches: list[str]) -> None:
    prod, _ = shares
    archive = tmp_path / f"theirs.{fmt}"
    subprocess.run([str(SEVEN_ZIP), "a", *switches, f"-p{PASSWORD}", str(archive), "a.csv", "sub"],
                   cwd=prod / "work", capture_output=True, check=True)
    digests = nas.extract_archive(str(archive), fmt, str(tmp_path / "here"), PASSWORD)
    assert digests == nas.manifest(nas.select(str(prod), "work", ["a.csv", "sub"]))


# --- issue #22: no check-then-use gap (handles, O_NOFOLLOW, fstat against the selection) ---------------------


@pytest.fixture(params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Runs a test with openat2(2) RESOLVE_BENEATH (where the kernel has it) and with the per-component O_NOFOLLOW
    walk; returns the paths openat2 was asked to open (empty for the walk)."""
    opened: list[str] = []
    if request.param == "walk":
        monkeypatch.setattr(nas, "USE_OPENAT2", False)
        return opened
    if not nas.openat2_in_use():
        pytest.skip("no openat2 on this kernel (or refused by seccomp): the per-component walk is the guarantee")
    real = nas._openat2_call

    def spy(dir_fd: int, path: str, flags: int) -> int:
        opened.append(path)
        return int(real(dir_fd, path, flags))

    monkeypatch.setattr(nas, "_openat2_call", spy)
    return opened


def _swap_for_link(path: Path, target: Path) -> None:
    """What an attacker with write access to the share does: the real folder or file moved aside, a link put in
    its place."""
    path.rename(path.with_name(path.name + ".moved"))
    path.symlink_to(target)


def _files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


@pytest.mark.parametrize("swapped, refused_at", [
    ("in", "b.csv"),  # the destination folder itself, after a.csv was copied into it
    ("in/sub", "sub/c.txt"),  # a folder inside it: a.csv and b.csv copied, sub/c.txt refused
])
def test_a_destination_folder_swapped_for_a_link_mid_copy_is_refused_and_nothing_lands_outside(
    shares: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resolver: list[str],
    swapped: str, refused_at: str,
) -> None:
    prod, maint = shares
    outside = tmp_path / "outside"
    outside.mkdir()
    (maint / "in" / "sub").mkdir(parents=True)
    actions = nas.plan_copy(nas.select(str(prod), "work", ["*.csv", "sub"]), str(maint), "in", "REQ-1", False)
    seen: list[tuple[str, str]] = []

    def hook(point: str, rel: str) -> None:
        seen.append((point, rel))
        if (point, rel) == ("before_write", "b.csv"):  # between the selection (and a.csv's write) and b.csv's
            _swap_for_link(maint / swapped, outside)

    monkeypatch.setattr(nas, "TEST_HOOK", hook)
    with pytest.raises(nas.TransferError) as e:
        nas.copy_files(actions)
    assert e.value.kind == "failed"
    assert f"{maint / swapped} is a symbolic link that leads outside {maint}" in str(e.value)
    assert "the copy stopped there" in str(e.value)
    assert list(outside.iterdir()) == []  # nothing written outside the share
    writes = [rel for point, rel in seen if point == "before_write"]
    assert writes[-1] == refused_at  # the copy stopped at the first file after the swap
    left = _files_under(maint)
    assert not [p for p in left if ".part-" in p]  # the temporary file of the refused file is removed
    moved = "in.moved" if swapped == "in" else "in"
    assert left[f"{moved}/a.csv"] == (prod / "work" / "a.csv").read_bytes()  # copied before the swap: inside
    if nas.USE_OPENAT2:
        assert "in" in resolver  # the destination folder was opened with openat2 (the walk named the link)


@pytest.mark.parametrize("swapped, rel", [
    ("work/b.csv", "b.csv"),  # a selected file replaced by a link to a file outside the share
    ("work/sub", "sub/c.txt"),  # a selected folder replaced by a link to a folder outside the share
])
def test_a_source_swapped_for_a_link_mid_copy_is_refused_and_nothing_outside_is_read(
    shares: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resolver: list[str],
    swapped: str, rel: str,
) -> None:
    prod, maint = shares
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "b.csv").write_bytes(b"SECRET of the control node\n")
    (outside / "c.txt").write_bytes(b"SECRET of the control node\n")
    target = outside / "b.csv" if swapped.endswith(".csv") else outside
    actions = nas.plan_copy(nas.select(str(prod), "work", ["*.csv", "sub"]), str(maint), "in", "REQ-1", False)

    def hook(point: str, at: str) -> None:
        if (point, at) == ("before_read", rel):
            _swap_for_link(prod / swapped, target)

    monkeypatch.setattr(nas, "TEST_HOOK", hook)
    with pytest.raises(nas.TransferError) as e:
        nas.copy_files(actions)
    assert e.value.kind == "failed"
    assert f"{prod / swapped} is a symbolic link that leads outside {prod}" in str(e.value)
    assert "changed since it was selected" in str(e.value)
    assert not [p for p, data in _files_under(maint).items() if b"SECRET" in data or ".part-" in p]


def test_a_source_replaced_by_another_file_is_refused(
    shares: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same name, same size, another inode (a rename over it): fstat differs from the selection."""
    prod, maint = shares
    actions = nas.plan_copy(nas.select(str(prod), "work", ["*.csv"]), str(maint), "in", "REQ-1", False)
    other = prod / "other.csv"
    other.write_text("id,name\n2,tanaka\n")  # the same size as b.csv

    def hook(point: str, rel: str) -> None:
        if (point, rel) == ("before_read", "b.csv"):
            other.replace(prod / "work" / "b.csv")

    monkeypatch.setattr(nas, "TEST_HOOK", hook)
    with pytest.raises(nas.TransferError, match=r"b\.csv changed since it was selected") as e:
        nas.copy_files(actions)
    assert e.value.kind == "failed"
    assert not (maint / "in" / "b.csv").exists()


def test_links_anywhere_in_a_selection_or_a_destination_are_refused(shares: tuple[Path, Path]) -> None:
    """A transfer never follows a link, even one that stays inside the share."""
    prod, maint = shares
    (prod / "work" / "inside.csv").symlink_to(prod / "work" / "a.csv")
    with pytest.raises(nas.TransferError, match=r"inside\.csv is a symbolic link \(to .*a\.csv\)"):
        nas.select(str(prod), "work", ["*.csv"])
    (prod / "work" / "inside.csv").unlink()
    (prod / "latest").symlink_to(prod / "work")
    with pytest.raises(nas.TransferError, match=r"source_dir: .*latest is a symbolic link"):
        nas.select(str(prod), "latest", ["a.csv"])
    (maint / "real").mkdir()
    (maint / "in").symlink_to(maint / "real")
    files = nas.select(str(prod), "work", ["a.csv"])
    with pytest.raises(nas.TransferError, match=r"dest_dir: .*in is a symbolic link"):
        nas.plan_copy(files, str(maint), "in", "REQ-1", False)


def test_the_environment_hook_runs_only_with_ops_test_hooks(
    shares: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The integration tests' route (a module runs in its own process): an executable named in the environment,
    honoured only when OPS_TEST_HOOKS=1 - which production never sets."""
    prod, maint = shares
    marker = tmp_path / "hook-calls"
    script = tmp_path / "hook.sh"
    script.write_text(f'#!/bin/sh\necho "$1" >> {marker}\n')
    script.chmod(0o755)
    files = nas.select(str(prod), "work", ["*.csv"])
    monkeypatch.setenv("OPS_TEST_HOOK_NAS_BEFORE_WRITE", str(script))
    monkeypatch.delenv("OPS_TEST_HOOKS", raising=False)
    nas.copy_files(nas.plan_copy(files, str(maint), "one", "REQ-1", False))
    assert not marker.exists()
    monkeypatch.setenv("OPS_TEST_HOOKS", "1")
    nas.copy_files(nas.plan_copy(files, str(maint), "two", "REQ-1", False))
    assert marker.read_text().split() == ["a.csv", "b.csv"]


def test_archives_and_extraction_go_through_handles(shares: tuple[Path, Path], tmp_path: Path,
                                                    resolver: list[str]) -> None:
    prod, maint = shares
    outside = tmp_path / "outside"
    outside.mkdir()
    files = nas.select(str(prod), "work", ["*.csv", "sub"])
    (maint / "out").symlink_to(outside)
    with pytest.raises(nas.TransferError, match="out is a symbolic link that leads outside"):
        nas.make_archive(files, nas.Place(str(maint), ("out", "x.zip")), "zip")
    archive = nas.Place(str(maint), ("x.tar.gz",))
    nas.make_archive(files, archive, "tar.gz")
    assert nas.verify_archive(archive, "tar.gz") == nas.manifest(files)
    with pytest.raises(nas.TransferError, match="out is a symbolic link that leads outside"):
        nas.extract_archive(archive, "tar.gz", nas.Place(str(maint), ("out", "x")))
    (maint / "back" / "sub").parent.mkdir()
    (maint / "back" / "sub").symlink_to(outside)  # a member's folder in the destination is a link
    with pytest.raises(nas.TransferError, match="sub is a symbolic link that leads outside"):
        nas.extract_archive(archive, "tar.gz", nas.Place(str(maint), ("back",)))
    assert list(outside.iterdir()) == []
    (maint / "back" / "sub").unlink()
    assert nas.extract_archive(archive, "tar.gz", nas.Place(str(maint), ("back",))) == nas.manifest(files)
    assert not [p for p in (maint / "back").iterdir() if p.name.startswith(".extract-")]


def test_an_archive_member_that_is_a_link_is_never_extracted(tmp_path: Path) -> None:
    import io
    import tarfile

    archive = tmp_path / "links.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        link = tarfile.TarInfo("etc")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc"
        t.addfile(link)
        data = tarfile.TarInfo("etc/cron.d/job")
        data.size = 4
        t.addfile(data, io.BytesIO(b"evil"))
    with pytest.raises(nas.TransferError, match="archive member etc is not a regular file"):
        nas.extract_archive(str(archive), "tar.gz", str(tmp_path / "dest"))
    assert not (tmp_path / "dest").exists()


def test_7z_members_keep_the_source_mtime(shares: tuple[Path, Path], tmp_path: Path) -> None:
    """py7zr's writef (a handle, not a path) stamps "now"; the engine puts the source's mtime back."""
    import py7zr

    prod, _ = shares
    os.utime(prod / "work" / "a.csv", ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    archive = tmp_path / "t.7z"
    nas.make_archive(nas.select(str(prod), "work", ["a.csv"]), str(archive), "7z")
    with py7zr.SevenZipFile(archive) as z:
        (info,) = z.list()
    assert info.creationtime is not None and int(info.creationtime.timestamp()) == 1_600_000_000


def test_openat2_is_only_used_where_its_number_is_known_and_the_kernel_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Elsewhere (another architecture, an old kernel, a seccomp profile that refuses it) the O_NOFOLLOW walk is the
    guarantee: the resolver fixture runs every race test both ways."""
    import platform

    monkeypatch.setattr(platform, "machine", lambda: "alpha")  # openat2 is 547 there: not in the table
    assert nas._load_openat2() is False
    monkeypatch.setattr(nas, "USE_OPENAT2", False)
    assert nas.openat2_in_use() is False
