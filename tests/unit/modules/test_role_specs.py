"""Every role's ``meta/argument_specs.yml``: an option whose name says it holds a secret is marked ``no_log: true``.

ansible-core does not guess for role options (``AnsibleModule`` only warns about module options that look like a
password), so the spec has to say it, as the modules do (``library/esa_sender_group.py``: ``password`` is
``no_log=True``). The rule for "the name says it holds a secret" (:func:`is_secret_name`), on the option name split
at ``_``:

- a word that names nothing but a secret: ``password``, ``passwd``, ``passphrase``, ``secret``, ``token``,
  ``credential(s)`` — ``esa_sender_groups_password``, ``datastage_password``;
- ``key`` only behind a word that makes it a secret key (``access_key``, ``secret_key``, ``private_key``,
  ``api_key``, ``ssh_key``, ``encryption_key``, ``signing_key``): a bare ``key`` is an S3 object key
  (``s3_restore_key``), a tag key or a dictionary key, not a secret;
- not when the last word makes the option a *reference* to a secret instead of the secret itself: ``_id``
  (``aws_access_key_id``, ``kms_key_id``), ``_env`` (``nas_transfer_password_env``, the *name* of an environment
  variable), ``_var`` (the name of a vault variable), ``_source`` (``nas_transfer_password_source``: vault or env),
  ``_file``, ``_path``, ``_dir`` (where a secret is kept), ``_name``.

A role option that holds a secret under another name (``datastage_authfile`` is a path, not a secret) is not found
by this test: choose names that say what they hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"

#: Words that only ever name a secret.
SECRET_WORDS = frozenset({"password", "passwd", "passphrase", "secret", "token", "credential", "credentials"})
#: Words that make the ``key`` after them a secret key.
SECRET_KEY_QUALIFIERS = frozenset({"access", "secret", "private", "api", "ssh", "encryption", "signing"})
#: Last words that make the option a reference to a secret (its ID, its variable's name, where it is kept).
REFERENCE_SUFFIXES = frozenset({"id", "env", "var", "source", "file", "path", "dir", "name"})


def is_secret_name(name: str) -> bool:
    """True when the option name ``name`` says the option holds a secret (rule in the module docstring)."""
    words = name.lower().split("_")
    if words[-1] in REFERENCE_SUFFIXES:
        return False
    if SECRET_WORDS.intersection(words):
        return True
    return any(w == "key" and i > 0 and words[i - 1] in SECRET_KEY_QUALIFIERS for i, w in enumerate(words))


def options(spec: dict[str, Any], path: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every option of an argument spec, suboptions included: ``(dotted path, option name, its definition)``."""
    for name, definition in (spec.get("options") or {}).items():
        yield f"{path}.{name}", name, definition
        yield from options(definition, f"{path}.{name}")


def role_options(specs_file: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """The options of every entry point of one role's ``meta/argument_specs.yml``."""
    role = specs_file.parents[1].name
    for entry_point, spec in yaml.safe_load(specs_file.read_text(encoding="utf-8"))["argument_specs"].items():
        yield from options(spec, f"{role}:{entry_point}")


def secrets_without_no_log(found: Iterable[tuple[str, str, dict[str, Any]]]) -> list[str]:
    """Dotted paths of the options whose name says secret but whose ``no_log`` is not the boolean true."""
    return [path for path, name, definition in found if is_secret_name(name) and definition.get("no_log") is not True]


SPEC_FILES = sorted(ROLES.glob("*/meta/argument_specs.yml"))


def test_every_role_has_argument_specs() -> None:
    assert [p.parents[1].name for p in SPEC_FILES] == sorted(p.name for p in ROLES.iterdir() if p.is_dir())


def test_every_secret_option_of_a_role_is_no_log() -> None:
    found = [o for f in SPEC_FILES for o in role_options(f)]
    assert secrets_without_no_log(found) == []


def test_the_roles_do_have_secret_options() -> None:
    """Guards the test above: were the walk or the rule broken, it would find nothing and pass."""
    secret = {path for f in SPEC_FILES for path, name, _d in role_options(f) if is_secret_name(name)}
    assert {"esa_sender_groups:main.esa_sender_groups_password", "datastage:main.datastage_password"} <= secret


def test_a_secret_without_no_log_is_reported_also_in_suboptions() -> None:
    spec = {"options": {
        "x_password": {"type": "str"},
        "x_token": {"type": "str", "no_log": "true"},  # a string is not the boolean YAML true
        "x_api": {"type": "dict", "options": {"ssh_key": {"type": "str"}, "user": {"type": "str"}}},
        "x_secret": {"type": "str", "no_log": True},
    }}
    assert secrets_without_no_log(options(spec, "r:main")) == ["r:main.x_password", "r:main.x_token",
                                                               "r:main.x_api.ssh_key"]


@pytest.mark.parametrize("name", [
    "esa_sender_groups_password", "datastage_password", "x_passwd", "x_passphrase", "ops_aws_secret_key",
    "x_api_token", "x_credentials", "x_access_key", "x_private_key", "x_client_secret", "x_password_hash",
])
def test_names_that_say_secret(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", [
    "s3_restore_key", "x_host_tag_key", "x_key", "x_access_key_id", "x_kms_key_id", "nas_transfer_password_env",
    "nas_transfer_password_source", "nas_transfer_vault_var", "x_password_file", "x_secret_name",
    "datastage_authfile", "esa_sender_groups_known_hosts", "esa_sender_groups_username", "x_keys",
])
def test_names_that_do_not(name: str) -> None:
    assert not is_secret_name(name)
