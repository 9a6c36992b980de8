# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""Read-only path checks shared by modules that write files, so a plan (check mode) refuses what the apply's
``os.makedirs`` / file write would fail on.
"""

from __future__ import annotations

import os


def folder_problem(path):
    """Why ``path`` cannot be used as a folder to write files into, or None when it can.

    A folder that exists must be a directory that is writable and searchable (W_OK|X_OK). A folder that does
    not exist yet must be creatable: the nearest existing component of the path is a directory (not a file or a
    broken symbolic link) that is writable and searchable. Changes nothing.
    """
    path = os.path.abspath(path)
    probe = path
    while not os.path.lexists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    suffix = "" if probe == path else ", so %s cannot be created" % path
    if not os.path.isdir(probe):
        what = "a broken symbolic link" if os.path.islink(probe) else "not a directory"
        return "%s is %s%s" % (probe, what, suffix)
    if not os.access(probe, os.W_OK | os.X_OK):
        return "%s is not a writable folder%s" % (probe, suffix)
    return None


def file_target_problem(path, tmp_suffix=".tmp"):
    """Why a regular file cannot be written at ``path`` (through ``path + tmp_suffix`` and os.replace, or
    directly when ``tmp_suffix`` is None), or None.

    Something that exists there, or at the temporary name, and is not a regular file (a directory, a broken
    symbolic link, a device) would make the write fail. Changes nothing.
    """
    for p in (path,) + ((path + tmp_suffix,) if tmp_suffix else ()):
        if os.path.lexists(p) and not os.path.isfile(p):
            what = "a directory" if os.path.isdir(p) else "not a regular file"
            return "%s exists and is %s" % (p, what)
    return None
