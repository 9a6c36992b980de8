# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""Read-only path checks shared by modules that write files, so a plan (check mode) refuses what the apply's
``os.makedirs`` / file write would fail on.
"""

from __future__ import annotations

import os


def nearest_existing(path):
    """``path`` made absolute, or its nearest ancestor that exists (a broken symbolic link exists); "/" at worst.

    When ``path`` does not exist, this is the component that decides whether ``os.makedirs(path)`` can work: it
    must be a directory (a file or a broken link in the way makes makedirs fail) that this user can write into.
    """
    probe = os.path.abspath(path)
    while not os.path.lexists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    return probe


def folder_obstacle(path):
    """What stops ``path`` from being used, or created, as a folder to write files into; None when nothing does.

    Returns (component, what): ``component`` is ``nearest_existing(path)`` (``path`` itself when it exists) and
    ``what`` is "not a directory", "a broken symbolic link" or "not writable" (not W_OK|X_OK for this user).
    Changes nothing.
    """
    probe = nearest_existing(path)
    if not os.path.isdir(probe):
        return probe, "a broken symbolic link" if os.path.islink(probe) else "not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        return probe, "not writable"
    return None


def folder_problem(path):
    """Why ``path`` cannot be used as a folder to write files into, or None when it can.

    A folder that exists must be a directory that is writable and searchable (W_OK|X_OK). A folder that does
    not exist yet must be creatable: the nearest existing component of the path is a directory (not a file or a
    broken symbolic link) that is writable and searchable. Changes nothing.
    """
    path = os.path.abspath(path)
    obstacle = folder_obstacle(path)
    if obstacle is None:
        return None
    probe, what = obstacle
    suffix = "" if probe == path else ", so %s cannot be created" % path
    if what == "not writable":
        return "%s is not a writable folder%s" % (probe, suffix)
    return "%s is %s%s" % (probe, what, suffix)


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
