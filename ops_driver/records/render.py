"""The monthly record (:class:`.monthly.Record`) as Markdown (for a ticket) and CSV (for a spreadsheet).

The HTML page is :mod:`ops_driver.records.html`; the JSON is :meth:`Record.to_json`. Every format shows the same
runs with the same columns (:data:`COLUMNS`); Markdown and HTML add the totals, the failures and refusals, the
unverified bundles, the emergency changes pending approval and the recurring automated tasks due.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from ops_driver import i18n, untrusted
from ops_driver.errors import InvalidInput
from ops_driver.records.html import page
from ops_driver.records.monthly import Record
from ops_driver.records.summary import (
    COLUMNS,
    CSV_EXTRA,
    RESULT_WORDS,
    TOTAL_COLUMNS,
    TOTAL_HEADERS,
    due_summary,
    headline,
    pending_text,
    provenance,
    said,
    said_all,
    state_word,
)


def _md_cell(value: Any) -> str:
    """Untrusted text (a reason, a message, a problem) for a table cell or a list line of the Markdown record:
    one line, no control character, no HTML, no backtick, ``|`` and ``\\`` escaped (:func:`untrusted.markdown`)."""
    return untrusted.markdown(str(value).replace("\\", "\\\\")).strip()


def _md_table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return out


def markdown(record: Record, lang: str = "en") -> str:
    """The record as one Markdown document (GitHub tables), in ``lang`` (``en`` or ``ja``)."""
    _ = i18n.gettext(lang)
    title = f"# {_('Record of work')} {record.month}" + (f" — {record.environment}" if record.environment else "")
    lines = [title, "", provenance(record, lang), "", f"## {_('Summary')}", ""]
    lines += [f"- {h}" for h in headline(record, lang)]
    lines += ["", f"## {_('Runs')}", ""]
    if record.runs:
        lines += _md_table([_(c[1]) for c in COLUMNS], [[c[2](r, lang) for c in COLUMNS] for r in record.runs])
        changed = [r for r in record.runs if r.resources and r.kind == "apply"]
        if changed:
            lines += ["", _("Resources changed by applies:"), ""]
            lines += [f"- `{_md_cell(r.run_id)}`: " + _md_cell("; ".join(r.resources)) for r in changed]
    else:
        lines.append(_("No plan or apply in {month}.").format(month=record.month))
    for key, heading in (("by_task", _("Totals per task")), ("by_environment", _("Totals per environment"))):
        rows = getattr(record, key)
        lines += ["", f"## {heading}", ""]
        first = ["task", "name_ja"] if key == "by_task" else ["environment"]
        headers = [_("task"), _("name")] if key == "by_task" else [_("environment")]
        lines += _md_table(headers + [_(h) for h in TOTAL_HEADERS],
                           [[row.get(k, "") for k in first] + [row[k] for k in TOTAL_COLUMNS] for row in rows]) \
            if rows else [_("None.")]
    lines += ["", f"## {_('Records of manual work')}", ""]
    if record.records:
        lines += _md_table([_("date (JST)"), _("task"), _("name"), _("environment"), _("result"), _("operator"),
                            _("note"), _("attachments"), _("run ID")],
                           [[m.date, m.task, m.task_name_ja, m.environment,
                             _(RESULT_WORDS.get(m.result, m.result)) + ("" if m.verified else f" ({_('unverified')})"),
                             m.operator, m.note, m.attachments, m.run_id] for m in record.records])
    else:
        lines.append(_("None."))
    lines += ["", f"## {_('Findings (ng)')}", ""]
    lines += [f"- {m.date} {m.task} {_md_cell(m.task_name_ja)} ({_md_cell(m.environment)}) {_md_cell(m.operator)}: "
              f"{_md_cell(m.note)} `{_md_cell(m.run_id)}`" for m in record.findings] or [_("None.")]
    lines += ["", f"## {_('Failures and refusals')}", ""]
    lines += [f"- {r.date} {r.time} `{_md_cell(r.run_id)}` {r.task} {_md_cell(r.environment)}: {_(r.outcome)}"
              + _(" (exit {exit_code})").format(exit_code=r.exit_code)
              + f": {_md_cell(r.message) or _md_cell(r.status)}" for r in record.failures] or [_("None.")]
    lines += ["", f"## {_('Flags')}", ""]
    lines += [f"- {r.date} {r.time} `{_md_cell(r.run_id)}` {r.task} {_md_cell(r.environment)}: "
              + _md_cell(said_all(r.flags, lang)) for r in record.flagged] or [_("None.")]
    lines += ["", f"## {_('Unverified bundles')}", ""]
    bad = [(r.run_id, r.problems) for r in record.unverified]
    bad += [(m.run_id, m.problems) for m in record.records if not m.verified]
    lines += [f"- `{_md_cell(run_id)}`: " + _md_cell(said_all(problems, lang)) for run_id, problems in bad] or [
        _("None: every bundle verified.")]
    if record.ledger["problems"]:
        lines += [f"- {_('ledger')}: {_md_cell(p)}" for p in record.ledger["problems"]]
    lines += ["", f"## {_('Emergency changes pending approval')}", ""]
    lines += [f"- {p['date']} `{_md_cell(p['run_id'])}` {p['task']} {_md_cell(p['environment'])} "
              + pending_text(p, lang, _md_cell) for p in record.pending] or [_("None.")]
    lines += ["", f"## {_('Recurring tasks due')}", ""]
    summary_lines = due_summary(record, lang)
    lines += [f"- {line}" for line in summary_lines] + ([""] if summary_lines else [])
    if record.due:
        lines += _md_table([_("due"), _("until"), _("task"), _("name"), _("environment"), _("why"), _("state"),
                            _("runs")],
                           [[", ".join(d.days), d.until, d.task, d.name_ja, d.environment,
                             (d.why_ja or d.why) if lang == "ja" else d.why,
                             state_word(d.state, lang), ", ".join(d.runs)] for d in record.due])
    else:
        lines.append(_("None due."))
    lines += [f"- {_('note')}: {said(n, lang)}" for n in record.notes]
    return "\n".join(lines) + "\n"


def csv_text(record: Record, lang: str = "en") -> str:
    """The runs as CSV (one row per run, unverified ones included and marked), header first: the column keys in
    English, the column names in Japanese. Write it with ``encoding="utf-8-sig"`` (a BOM) so that Excel reads the
    Japanese names as UTF-8."""
    _ = i18n.gettext(lang)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    if lang == "ja":
        w.writerow([_(c[1]) for c in COLUMNS] + [_(h) for _k, h, _f in CSV_EXTRA])
    else:
        w.writerow([c[0] for c in COLUMNS] + [k for k, _h, _f in CSV_EXTRA])
    for r in record.runs:  # control characters of request text shown as escapes (untrusted.visible)
        w.writerow([untrusted.visible(v, keep="") if isinstance(v, str) else v
                    for v in [c[2](r, lang) for c in COLUMNS] + [f(r) for _k, _h, f in CSV_EXTRA]])
    return buf.getvalue()


FORMATS = ("md", "csv", "html")
_SUFFIXES = {".md": "md", ".markdown": "md", ".csv": "csv", ".html": "html", ".htm": "html"}


def format_for(given: str | None, out: Path | None) -> str:
    """The format asked for, else the one ``out``'s suffix names (``.csv``, ``.html``, ``.md``), else ``md``."""
    if given:
        return given
    return _SUFFIXES.get(out.suffix.lower(), "md") if out is not None else "md"


def render(record: Record, fmt: str, lang: str = "en") -> bytes:
    """The record in ``fmt`` (one of :data:`FORMATS`) and ``lang`` as the bytes of the file: UTF-8, CSV with a
    BOM."""
    if fmt == "csv":
        return csv_text(record, lang).encode("utf-8-sig")
    if fmt == "html":
        return page(record, lang).encode("utf-8")
    return markdown(record, lang).encode("utf-8")


def check_out(out: Path) -> Path:
    """``--out``: InvalidInput (exit 2) when it is a folder or its folder does not exist (before anything is read)."""
    if out.is_dir():
        raise InvalidInput(f"--out: {out} is a folder; give a file name, e.g. {out / 'record.html'}")
    if not out.parent.is_dir():
        raise InvalidInput(f"--out: the folder {out.parent} does not exist; create it or write elsewhere")
    return out


def write(out: Path, data: bytes) -> Path:
    """Write ``data`` to ``out`` atomically (a temporary file beside it, then a rename). Returns ``out``."""
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
