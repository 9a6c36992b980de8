"""Who is acting (the OS account; a declared name only in the sandbox) and when two names are one person."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from ops_driver.errors import InvalidInput, PolicyRefused
from ops_driver.evidence import identity


@pytest.mark.parametrize("spelling", ["tanaka", "Tanaka", "TANAKA", " tanaka ", "ｔａｎａｋａ", "Ｔａｎａｋａ",
                                      "\u3000tanaka\t", "tanaka\n"])
def test_every_spelling_of_tanaka_is_tanaka(spelling: str) -> None:
    assert identity.normalise(spelling) == "tanaka"
    assert identity.same_person(spelling, "tanaka") and identity.same_person("ＴＡＮＡＫＡ", spelling)


def test_other_names_are_other_people() -> None:
    assert not identity.same_person("tanaka", "tanaka2")
    assert not identity.same_person("tanaka", "tanakа")  # the last letter is Cyrillic а: another name
    assert not identity.same_person("", "") and not identity.same_person(None, "tanaka")
    assert not identity.same_person(" ", "　")  # blank is nobody, not one person
    assert identity.same_person("Tanaka  Taro", "tanaka taro")  # inner white space collapsed
    assert identity.distinct(["Yamada", "ｙａｍａｄａ", " kato", "yamada ", "Kato"]) == ["Yamada", " kato"]
    assert identity.among("ＳＡＴＯ", ["tanaka", "sato"]) and not identity.among("sato", [])


def _someone() -> pwd.struct_passwd:
    """An account of this machine other than root and other than the one running the tests."""
    me = os.geteuid()
    return next(e for e in pwd.getpwall() if e.pw_uid not in (0, me) and e.pw_name)


def test_the_operator_is_the_effective_account_without_sudo() -> None:
    me = identity.account()
    assert me == pwd.getpwuid(os.geteuid()).pw_name
    other = _someone()
    # SUDO_USER typed in an ordinary shell (not under sudo, not root) does not make anyone someone else
    assert identity.system_operator({"SUDO_USER": other.pw_name, "SUDO_UID": str(other.pw_uid)}, euid=4242,
                                    sudo=False) == me
    assert identity.system_operator({}, euid=4242, sudo=False) == me


def test_sudo_user_is_the_operator_when_run_through_sudo() -> None:
    other = _someone()
    env = {"SUDO_USER": other.pw_name, "SUDO_UID": str(other.pw_uid)}
    assert identity.system_operator(env, euid=4242, sudo=True) == other.pw_name  # sudo -u svc
    assert identity.system_operator(env, euid=0, sudo=False) == other.pw_name  # sudo as root
    me = identity.account()
    # an inconsistent pair (SUDO_UID of another account), an unknown account or root itself: the account
    assert identity.system_operator({**env, "SUDO_UID": str(other.pw_uid + 1)}, euid=0, sudo=True) == me
    assert identity.system_operator({"SUDO_USER": "no-such-account-xyz"}, euid=0, sudo=True) == me
    assert identity.system_operator({"SUDO_USER": "root", "SUDO_UID": "0"}, euid=0, sudo=True) == me


def _proc(root: Path, pid: int, ppid: int, comm: str, euid: int) -> None:
    d = root / str(pid)
    d.mkdir(parents=True)
    (d / "stat").write_text(f"{pid} ({comm}) S {ppid} 1 1 0 -1\n")
    (d / "comm").write_text(comm + "\n")
    (d / "status").write_text(f"Name:\t{comm}\nUid:\t1000\t{euid}\t{euid}\t{euid}\n")


def test_under_sudo_looks_for_a_root_sudo_among_the_ancestors(tmp_path: Path) -> None:
    _proc(tmp_path, 1, 0, "systemd", 0)
    _proc(tmp_path, 10, 1, "sshd", 0)
    _proc(tmp_path, 20, 10, "sudo", 0)          # the real sudo: set-user-ID root
    _proc(tmp_path, 30, 20, "bash", 1000)
    _proc(tmp_path, 40, 30, "python3", 1000)     # `sudo -u svc bash -c 'ops-driver …'`
    _proc(tmp_path, 50, 10, "sudo", 1000)        # a process merely named sudo
    _proc(tmp_path, 60, 50, "python3", 1000)
    _proc(tmp_path, 70, 10, "python3 (x) y", 1000)  # spaces and parentheses in the command name
    assert identity.under_sudo(40, tmp_path)
    assert not identity.under_sudo(60, tmp_path)
    assert not identity.under_sudo(70, tmp_path)
    assert not identity.under_sudo(999, tmp_path)  # no such process, no /proc


def test_a_declared_operator_is_accepted_in_the_sandbox_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPS_OPERATOR", raising=False)
    me = identity.account()
    assert identity.acting("prod") == identity.Actor(name=identity.system_operator(), source="system", account=me)
    declared = identity.acting("sandbox", " tanaka ")
    assert declared == identity.Actor(name="tanaka", source="declared", account=me)
    assert declared.manifest() == {"operator": "tanaka", "operator_source": "declared", "os_account": me}
    assert identity.acting("sandbox", environ={"OPS_OPERATOR": "sato"}).name == "sato"
    for env in ("prod", "dr", "maint"):
        with pytest.raises(PolicyRefused, match=rf"--operator \('tanaka'\): .*only in the sandbox.*in {env}") as e:
            identity.acting(env, "tanaka")
        assert e.value.exit_code == 4
        with pytest.raises(PolicyRefused, match="OPS_OPERATOR"):
            identity.acting(env, environ={"OPS_OPERATOR": "tanaka"})
    with pytest.raises(InvalidInput, match="--operator: the operator's name is empty"):
        identity.acting("sandbox", "  ")
