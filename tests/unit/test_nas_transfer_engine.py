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
