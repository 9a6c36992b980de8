# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""DataStage release packages (.dsx text exports and .isx archives): read (confined to a share root), parse,
list, validate (STAT-015).

.dsx - the text export of the DataStage Designer / DSXImportService.sh input:
  BEGIN HEADER ... END HEADER                       (CharacterSet, ExportingTool, ServerName, ToolInstanceID ...)
  BEGIN DSJOB / Identifier "Name" ... END DSJOB     one job; its ROOT DSRECORD carries JobType
                                                    ("0" server, "2" sequence, "3" parallel)
  BEGIN DSSHAREDCONTAINER / Identifier "Name" ... END DSSHAREDCONTAINER
  BEGIN DSROUTINES / BEGIN DSRECORD / Identifier "Folder\\Name" ... END DSROUTINES
  BEGIN DSPARAMSETS / BEGIN DSRECORD / Identifier "Name" ... END DSPARAMSETS
  Other sections (DSTABLEDEFS, DSSTAGETYPES, DSDATATYPES ...) are accepted and not imported by name.
  A .dsx is imported by the engine's DSXImportService.sh (module_utils/datastage_cli.py), never by istool.

.isx - the archive of ``istool export``: a ZIP file whose META-INF/IS-MANIFEST.MF is XML (an istool export held
  by NSIT-BIM/datastage-isxer tests/test.isx; read the same way by that project's src/lib/isxer.js ListAssets and
  by public extractISX.sh scripts):
    <?xml version="1.0" encoding="UTF-8"?><com.ibm.iis.istools.ai.core:Manifest xmi:version="2.0" ...
        creationDate=".." createdBy=".." chunksCount="1">
      <entries name="LoadSales" path="HOST/PROJECT/Jobs/Release/LoadSales.pjb" createdBy=".." createdOn=".."
               description="" product="DataStage">
        <id key="uri" value="istp://DataStageParallelJob@host:9080/PROJECT/Jobs/Release/LoadSales?server=HOST"/>
        <additionalInfo key="path" value="HOST/PROJECT/Jobs/Release/LoadSales.pjb"/>
        <additionalInfo key="includeexecutable" value="true"/>
        <additionalInfo key="executablepath" value="HOST/PROJECT/Jobs/Release/LoadSales.bin"/> ...
      </entries> ...
    </com.ibm.iis.istools.ai.core:Manifest>
  Each entry's ``path`` is a ZIP member holding the asset's XML definition (a DSJobDefSDO, DSRoutineSDO ...); the
  compiled executable, when exported, is the ``executablepath`` member (.bin). The kind comes from the extension:
  .pjb parallel job, .qjb sequence job, .pst parameter set, .tbd table definition (extractISX.sh), .srt routine
  (tests/test.isx); .sjb server job and .psc shared container follow istool's asset type names and are not
  confirmed by a public export.

Identifiers: a letter first, then letters, digits or underscores, at most 255 characters (the rule the Designer
applies to job names; we apply it to every asset name).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import stat
import zipfile
from xml.etree import ElementTree

MANIFEST = "META-INF/IS-MANIFEST.MF"
MAX_IDENTIFIER = 255
IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
KINDS = ("table_definition", "parameter_set", "routine", "shared_container", "job")  # import order: dependencies first
JOB_TYPES = {"0": ("server", "sjb"), "2": ("sequence", "qjb"), "3": ("parallel", "pjb")}
EXT = {"parameter_set": "pst", "routine": "srt", "shared_container": "psc", "table_definition": "tbd"}
# isx member extension -> (kind, job type)
EXT_KIND = {"pjb": ("job", "parallel"), "qjb": ("job", "sequence"), "sjb": ("job", "server"),
            "pst": ("parameter_set", None), "srt": ("routine", None), "psc": ("shared_container", None),
            "tbd": ("table_definition", None)}
# istp:// asset types of the manifest's <id key="uri">: DataStageParallelJob and DataStageServerRoutine are in the
# public export (tests/test.isx); the others are our best reading of istool's names, not confirmed.
ISTP_TYPE = {"pjb": "DataStageParallelJob", "qjb": "DataStageSequenceJob", "sjb": "DataStageServerJob",
             "pst": "DataStageParameterSet", "srt": "DataStageServerRoutine", "psc": "DataStageSharedContainer",
             "tbd": "DataStageTableDefinition"}
FOLDER = {"job": "Jobs", "parameter_set": "Parameter Sets", "routine": "Routines",
          "shared_container": "Shared Containers", "table_definition": "Table Definitions"}
MAX_PACKAGE_BYTES = 64 * 1024 * 1024
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
# Root attributes of an asset's XML definition that an import may rewrite (modification stamp, lock counter,
# modifying user): left out of the definition's digest. Which ones the engine rewrites is not confirmed.
VOLATILE = ("lastModificationTimestamp", "optimisticLockID", "modifiedByUser")
MANIFEST_NS = "http://com.ibm.iis.istools.ai.core/manifest"
XMI_NS = "http://www.omg.org/XMI"


class PackageError(Exception):
    """The package is not a valid .dsx / .isx, is empty, names an invalid identifier, or cannot be read inside
    its root (``field`` names the request field to blame)."""

    def __init__(self, msg, field="package"):
        super().__init__(msg)
        self.field = field


def sha256_text(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_identifier(name, kind="asset"):
    """Raise PackageError unless ``name`` is a valid DataStage identifier."""
    if not name or len(name) > MAX_IDENTIFIER or not IDENTIFIER.match(name):
        raise PackageError(
            "%s name %r is not a valid DataStage identifier (a letter first, then letters, digits or underscores,"
            " at most %d characters)" % (kind.replace("_", " "), name, MAX_IDENTIFIER)
        )
    return name


def _identifier(lines):
    for line in lines:
        m = re.match(r'^\s*Identifier\s+"(.*)"\s*$', line)
        if m:
            return m.group(1)
    return None


def _field(lines, key):
    for line in lines:
        m = re.match(r'^\s*%s\s+"(.*)"\s*$' % re.escape(key), line)
        if m:
            return m.group(1)
    return None


def _blocks(lines, start):
    """Top-level BEGIN X ... END X blocks from line ``start``: list of (section, lines including BEGIN/END)."""
    out, i = [], start
    while i < len(lines):
        line = lines[i].strip()
        if not line:
            i += 1
            continue
        m = re.match(r"^BEGIN\s+([A-Z]+)$", line)
        if not m:
            raise PackageError("line %d: expected BEGIN <section>, found %r" % (i + 1, line[:60]))
        section, depth, j = m.group(1), 0, i
        while j < len(lines):
            s = lines[j].strip()
            if re.match(r"^BEGIN\s+[A-Z]+$", s):
                depth += 1
            elif re.match(r"^END\s+[A-Z]+$", s):
                depth -= 1
                if depth == 0:
                    if s != "END " + section:
                        raise PackageError("line %d: %s closes BEGIN %s" % (j + 1, s, section))
                    break
            j += 1
        else:
            raise PackageError("BEGIN %s at line %d is never closed" % (section, i + 1))
        out.append((section, lines[i : j + 1]))
        i = j + 1
    return out


def _records(block):
    """DSRECORD sub-blocks of a DSROUTINES / DSPARAMSETS section."""
    inner = _blocks(block[1:-1], 0)
    return [b for s, b in inner if s == "DSRECORD"]


def _asset(kind, name, text, job_type=None, category=None):
    if kind == "job":
        label, ext = JOB_TYPES.get(job_type or "3", ("parallel", "pjb"))
    else:
        label, ext = None, EXT[kind]
    folder = re.sub(r"\\+", "/", category or "").strip("/") or FOLDER[kind]
    return dict(kind=kind, name=name, job_type=label, ext=ext, folder=folder, path="%s/%s.%s" % (folder, name, ext),
                text=text, sha256=sha256_text(text))


def parse_dsx_text(text):
    """Header dict and asset list of a .dsx export (raises PackageError)."""
    if "\x00" in text:
        raise PackageError("not a .dsx text export (binary content)")
    lines = text.replace("\r\n", "\n").split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or lines[first].strip() != "BEGIN HEADER":
        raise PackageError("not a .dsx export: it must start with BEGIN HEADER")
    blocks = _blocks(lines, first)
    header_lines = blocks[0][1]
    header = {}
    for line in header_lines[1:-1]:
        m = re.match(r'^\s*(\w+)\s+"(.*)"\s*$', line)
        if m:
            header[m.group(1)] = m.group(2)
    assets = []
    for section, block in blocks[1:]:
        body = "\n".join(block) + "\n"
        if section == "DSJOB":
            name = _identifier(block[1:])
            check_identifier(name, "job")
            assets.append(_asset("job", name, body, _field(block, "JobType"), _field(block, "Category")))
        elif section == "DSSHAREDCONTAINER":
            name = _identifier(block[1:])
            check_identifier(name, "shared_container")
            assets.append(_asset("shared_container", name, body, category=_field(block, "Category")))
        elif section in ("DSROUTINES", "DSPARAMSETS"):
            kind = "routine" if section == "DSROUTINES" else "parameter_set"
            for rec in _records(block):
                ident = _identifier(rec) or ""
                folder, _sep, name = ident.rpartition("\\")
                check_identifier(name, kind)
                rec_text = "BEGIN %s\n%s\nEND %s\n" % (section, "\n".join(rec), section)
                assets.append(_asset(kind, name, rec_text, category=folder or None))
        elif section == "HEADER":
            raise PackageError("a second BEGIN HEADER")
    return header, assets


def definition_digest(data):
    """SHA-256 of an asset definition (bytes), without the VOLATILE attributes of its first XML element (so an
    export after an import compares equal to the package's definition). Non-XML data is hashed as it is."""
    if data.lstrip()[:5] == b"<?xml":
        head_end = data.find(b">", data.find(b"<", data.find(b"?>") + 2))
        if head_end > 0:
            head = data[:head_end]
            for attr in VOLATILE:
                head = re.sub(rb'\s%s="[^"]*"' % attr.encode(), b"", head)
            data = head + data[head_end:]
    return hashlib.sha256(data).hexdigest()


def _local(tag):
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def parse_manifest(text):
    """The entries of an XML IS-MANIFEST.MF: [{name, path, info: {additionalInfo key: value}, uri}].

    A DOCTYPE or ENTITY declaration is refused (no entity expansion); PackageError for anything that is not the
    XML manifest (e.g. the JAR-style ``Manifest-Version:`` text)."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise PackageError("%s declares a DOCTYPE / ENTITY - refused" % MANIFEST)
    try:
        root = ElementTree.fromstring(text)  # noqa: S314 - DOCTYPE / ENTITY refused above: no entity expansion
    except ElementTree.ParseError as e:
        raise PackageError("%s is not the XML manifest of istool export (%s)" % (MANIFEST, e)) from None
    if _local(root.tag) != "Manifest":
        raise PackageError("%s: the root element is %s, not istool's Manifest" % (MANIFEST, _local(root.tag)))
    out = []
    for el in root:
        if _local(el.tag) != "entries":
            continue
        info, uri = {}, None
        for sub in el:
            if _local(sub.tag) == "additionalInfo":
                info[sub.get("key", "")] = sub.get("value", "")
            elif _local(sub.tag) == "id" and sub.get("key") == "uri":
                uri = sub.get("value")
        out.append(dict(name=el.get("name") or "", path=el.get("path") or "", info=info, uri=uri))
    return out


def _member_path(path, what):
    parts = path.split("/")
    if not path or path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts) or len(parts) < 3:
        raise PackageError("%s %r is not an istool asset path HOST/PROJECT/[FOLDER/]NAME.EXT" % (what, path))
    return parts


def parse_isx_bytes(data):
    """Header dict and asset list of an .isx archive (raises PackageError)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise PackageError("not an .isx archive (not a ZIP file)") from None
    with zf:
        names = set(zf.namelist())
        if MANIFEST not in names:
            raise PackageError("not an .isx archive: %s is missing" % MANIFEST)
        if zf.getinfo(MANIFEST).file_size > MAX_MANIFEST_BYTES:
            raise PackageError("%s is larger than %d bytes" % (MANIFEST, MAX_MANIFEST_BYTES))
        try:
            text = zf.read(MANIFEST).decode("utf-8")
        except UnicodeDecodeError:
            raise PackageError("%s is not UTF-8 text" % MANIFEST) from None
        entries = parse_manifest(text)
        header = {}
        assets = []
        for entry in entries:
            parts = _member_path(entry["path"], "manifest entry %s: path" % entry["name"])
            stem, _dot, ext = parts[-1].rpartition(".")
            if ext.lower() not in EXT_KIND:
                raise PackageError("manifest entry %s: %s is not a DataStage asset (.%s; known: %s)"
                                   % (entry["name"], entry["path"], ext, ", ".join(sorted(EXT_KIND))))
            kind, job_type = EXT_KIND[ext.lower()]
            check_identifier(entry["name"], kind)
            if stem != entry["name"]:
                raise PackageError("manifest entry %s names the member %s" % (entry["name"], entry["path"]))
            if entry["path"] not in names:
                raise PackageError("manifest names %s, which is not in the archive" % entry["path"])
            executable = entry["info"].get("includeexecutable", "false").lower() == "true"
            exe_path = entry["info"].get("executablepath") or None
            if executable and exe_path:
                _member_path(exe_path, "manifest entry %s: executablepath" % entry["name"])
                if exe_path not in names:
                    raise PackageError("manifest names the executable %s, which is not in the archive" % exe_path)
            body = zf.read(entry["path"])
            header.setdefault("ServerName", parts[0])
            header.setdefault("ToolInstanceID", parts[1])
            folder = "/".join(parts[2:-1]) or FOLDER[kind]
            assets.append(dict(kind=kind, name=entry["name"], job_type=job_type, ext=ext.lower(), folder=folder,
                               path="%s/%s" % (folder, parts[-1]), member=entry["path"], data=body,
                               sha256=definition_digest(body), executable=bool(executable and exe_path)))
    return header, assets


# ------------------------------------------------------------------ reading a package inside its root

def _open_flags(directory=False):
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    if directory:
        flags |= os.O_DIRECTORY
    return flags | getattr(os, "O_NONBLOCK", 0)


def read_confined(root, rel, field="package", limit=MAX_PACKAGE_BYTES):
    """The bytes of ``root``/``rel``, opened without ever leaving ``root``: ``rel`` is relative, without ``..``;
    each folder is opened O_DIRECTORY|O_NOFOLLOW from the one before (dir_fd), the file O_NOFOLLOW and checked
    (fstat) to be a regular file. A symbolic link anywhere below ``root`` is refused, so is a file over ``limit``.
    PackageError naming ``field`` otherwise (the NAS role's confinement: module_utils/nas_transfer.py)."""
    if not root or not os.path.isabs(root):
        raise PackageError("the root of the package location %r is not an absolute path" % root, field)
    if not rel or "\0" in rel or rel.startswith("/") or os.path.isabs(rel):
        raise PackageError("%r must be a path relative to its location's root" % rel, field)
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise PackageError("%r must be relative to its root, without '..', '.' or empty parts" % rel, field)
    fds = []
    try:
        try:
            fds.append(os.open(root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)))
            for part in parts[:-1]:
                fds.append(os.open(part, _open_flags(directory=True), dir_fd=fds[-1]))
            fd = os.open(parts[-1], _open_flags(), dir_fd=fds[-1])
        except OSError as e:
            where = "/".join(parts[: len(fds)]) or rel
            if e.errno in (errno.ELOOP, errno.ENOTDIR) or (e.errno == errno.EMLINK):
                raise PackageError("cannot read the package %s: %s is a symbolic link or not a folder - a package "
                                   "must lie inside its root without links" % (rel, where), field) from None
            raise PackageError("cannot read the package %s: %s" % (rel, e.strerror), field) from None
        fds.append(fd)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PackageError("the package %s is not a regular file" % rel, field)
        if st.st_size > limit:
            raise PackageError("the package is larger than %d bytes" % limit, field)
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise PackageError("the package is larger than %d bytes" % limit, field)
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        for fd in fds:
            os.close(fd)


def parse_package_bytes(name, data):
    """``{format, header, assets}`` of a .dsx or .isx (``name`` gives the extension); every asset name validated,
    duplicates refused, dependencies first."""
    lower = name.lower()
    if lower.endswith(".isx"):
        fmt, (header, assets) = "isx", parse_isx_bytes(data)
    elif lower.endswith(".dsx"):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise PackageError("not a .dsx text export (not UTF-8 text)") from None
        fmt, (header, assets) = "dsx", parse_dsx_text(text)
    else:
        raise PackageError("the package must be a .dsx or .isx file: %s" % name)
    if not assets:
        raise PackageError("the package holds no job, parameter set, routine, shared container or table definition")
    seen = set()
    for a in assets:
        key = (a["kind"], a["name"].upper())  # DataStage names are case-insensitive within a project
        if key in seen:
            raise PackageError("%s %s appears twice in the package" % (a["kind"].replace("_", " "), a["name"]))
        seen.add(key)
    assets.sort(key=lambda a: (KINDS.index(a["kind"]), a["name"]))
    return dict(format=fmt, header=header, assets=assets)


def parse_package(path, root=None):
    """parse_package_bytes of the file at ``path`` - read inside ``root`` (read_confined) when ``root`` is given
    (``path`` then relative to it), otherwise ``path`` absolute, its last component opened O_NOFOLLOW."""
    if root is None:
        root, path = os.path.dirname(path) or "/", os.path.basename(path)
    if not path.lower().endswith((".dsx", ".isx")):
        raise PackageError("the package must be a .dsx or .isx file: %s" % path)
    return parse_package_bytes(path, read_confined(root, path))


def summary(assets):
    """Names per kind: {jobs: [...], parameter_sets: [...], routines: [...], shared_containers: [...],
    table_definitions: [...]}."""
    return {k + "s": [a["name"] for a in assets if a["kind"] == k] for k in KINDS}


def _xml_attr(value):
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .replace("\r", "&#xD;").replace("\n", "&#xA;"))


def manifest_text(entries, created_by="ops-driver", created="2026-11-18T17:30:00.000+0900", services="localhost:9080"):
    """An IS-MANIFEST.MF in istool's XML layout (see the module docstring) for ``entries``:
    [{name, member (HOST/PROJECT/.../Name.ext), executable_member or None}]."""
    out = ['<?xml version="1.0" encoding="UTF-8"?><com.ibm.iis.istools.ai.core:Manifest xmi:version="2.0" '
           'xmlns:xmi="%s" xmlns:com.ibm.iis.istools.ai.core="%s" creationDate="%s" createdBy="%s" chunksCount="1">'
           % (XMI_NS, MANIFEST_NS, created, _xml_attr(created_by))]
    for e in entries:
        host, project = e["member"].split("/")[:2]
        ext = e["member"].rpartition(".")[2]
        asset = e["member"].split("/", 2)[2].rpartition(".")[0]
        out.append('<entries name="%s" path="%s" createdBy="%s" createdOn="%s" description="" product="DataStage">'
                   '<id key="uri" value="istp://%s@%s/%s/%s?server=%s"/>'
                   '<additionalInfo key="path" value="%s"/>'
                   '<additionalInfo key="includeexecutable" value="%s"/>'
                   '<additionalInfo key="includedesigns" value="true"/>'
                   % (_xml_attr(e["name"]), _xml_attr(e["member"]), _xml_attr(created_by), created,
                      ISTP_TYPE.get(ext, "DataStageAsset"), services, _xml_attr(project), _xml_attr(asset),
                      _xml_attr(host), _xml_attr(e["member"]), "true" if e.get("executable_member") else "false"))
        if e.get("executable_member"):
            out.append('<additionalInfo key="executablepath" value="%s"/>' % _xml_attr(e["executable_member"]))
        out.append("</entries>")
    out.append("</com.ibm.iis.istools.ai.core:Manifest>")
    return "".join(out)


def sdo_xml(kind, name, job_type=None, description="", stamp="2026-11-18T08:30:00.000+0000", body=""):
    """A minimal asset definition in the XML layout of an istool export (root element DSJobDefSDO for jobs, as
    in tests/test.isx; the other kinds' root names and every attribute but name / jobType / the stamps are our
    approximation): what the simulator stores and exports, and what make_sample_isx.py packs."""
    root = {"job": "DSJobDefSDO", "routine": "DSRoutineSDO", "parameter_set": "DSParameterSetSDO",
            "shared_container": "DSSharedContainerDefSDO", "table_definition": "DSTableDefinitionSDO"}[kind]
    jt = ' jobType="%s"' % {"parallel": "Parallel", "sequence": "Sequence", "server": "Server"}[job_type] \
        if job_type else ""
    return ('<?xml version="1.1" encoding="UTF-8"?>\n<com.ibm.datastage.ai.dtm.ds:%s xmi:version="2.0" '
            'xmlns:xmi="%s" xmlns:com.ibm.datastage.ai.dtm.ds="http:///com/ibm/datastage/ai/dtm/ds.ecore" '
            'lastModificationTimestamp="%s" optimisticLockID="1" modifiedByUser="dsadm" name="%s" '
            'shortDescription="%s"%s>%s</com.ibm.datastage.ai.dtm.ds:%s>\n'
            % (root, XMI_NS, stamp, _xml_attr(name), _xml_attr(description), jt, _xml_attr(body), root))


def write_isx(dest, host, project, assets, date_time=(2026, 11, 18, 17, 30, 0), created_by="ops-driver"):
    """An .isx at ``dest``: the XML manifest, then each asset's definition at HOST/PROJECT/<folder>/<Name>.<ext>
    (``assets``: [{kind, name, ext, folder, data (bytes), executable (bytes or None)}]). Fixed ZIP dates, so the
    bytes are reproducible."""
    entries, members = [], []
    for a in sorted(assets, key=lambda a: (KINDS.index(a["kind"]), a["name"])):
        base = "%s/%s/%s/%s" % (host, project, a["folder"], a["name"])
        member = "%s.%s" % (base, a["ext"])
        exe = "%s.bin" % base if a.get("executable") else None
        entries.append(dict(name=a["name"], member=member, executable_member=exe))
        members.append((member, a["data"]))
        if exe:
            members.append((exe, a["executable"]))
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in [*members, (MANIFEST, manifest_text(entries, created_by).encode("utf-8"))]:
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return dest
