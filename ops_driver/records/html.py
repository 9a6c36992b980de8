"""The monthly record as one self-contained HTML page (``ops-driver report --format html``).

One file, no network: the style and the script are inline, a Content-Security-Policy forbids every other source
(``default-src 'none'``) and allows the inline style and script only by their SHA-256 (:data:`CSP`), the chart is
inline SVG. The page holds the summary, a chart of runs per day (stacked: ok, plans, not ok, unverified;
non-business days shaded), the runs table — sortable by any column (click its heading) and filterable by task,
environment and status (the outcome, or ``unverified``) — the totals per task and per environment, the records of
manual work and their findings (ng), the failures and refusals, the unverified bundles, the emergency changes pending
approval and the recurring tasks due. The page is in English or Japanese (``lang``). Without JavaScript
the page still shows everything, unsorted and unfiltered.

Hooks the browser test relies on: ``#runs-table`` (rows ``tr.run`` with ``data-task``, ``data-environment``,
``data-status``), the selects ``#filter-task``, ``#filter-environment``, ``#filter-status``, ``#shown`` ("N of M
runs"), sortable headings ``th[data-key]`` with ``aria-sort``, and ``#chart svg``.
"""

from __future__ import annotations

import base64
import calendar as stdlib_calendar
import datetime as dt
import hashlib
from collections import Counter
from html import escape
from typing import Any

from ops_driver import i18n
from ops_driver.records.monthly import DUE_STATES, Record, Run
from ops_driver.records.schedule.calendar import non_business_reason
from ops_driver.records.summary import (
    COLUMNS,
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

STYLE = """
:root { --ok: #2e7d32; --bad: #c62828; --grey: #9e9e9e; --line: #d0d7de; --muted: #57606a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, "Hiragino Sans", "Noto Sans CJK JP", "Yu Gothic", sans-serif; margin: 0;
       padding: 16px 24px 48px; color: #1f2328; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.prov { color: var(--muted); margin: 0 0 12px; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; min-width: 96px; }
.card b { display: block; font-size: 20px; } .card.bad b { color: var(--bad); } .card.ok b { color: var(--ok); }
ul.head { margin: 6px 0; padding-left: 20px; }
.filters { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; margin: 6px 0 8px; }
.filters select { font: inherit; padding: 2px 4px; }
#shown { color: var(--muted); }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; position: sticky; top: 0; }
th button { all: unset; cursor: pointer; font-weight: 600; }
th[aria-sort="ascending"] button::after { content: " \\25B2"; }
th[aria-sort="descending"] button::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.id { font-family: ui-monospace, monospace; font-size: 12px; }
tr.run.s-failed td, tr.run.s-refused td, tr.run.s-invalid td { background: #fff5f5; }
tr.run.s-unverified td { background: #f3f3f3; color: #555; }
.state-missed { color: var(--bad); font-weight: 600; } .state-done { color: var(--ok); }
.state-late { color: #b26a00; }
svg text { font-size: 10px; fill: var(--muted); }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; }
.empty { color: var(--muted); font-style: italic; }
.legend i.k-ok { background: #2e7d32; } .legend i.k-plan { background: #6e9bd1; }
.legend i.k-bad { background: #c62828; }
.legend i.k-unverified { background: #9e9e9e; } .legend i.k-closed { background: #f4f4f4; border: 1px solid #ccc; }
"""

SCRIPT = """
(function () {
  var table = document.getElementById('runs-table');
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var filters = ['task', 'environment', 'status'].map(function (k) {
    return [k, document.getElementById('filter-' + k)];
  });
  var shown = document.getElementById('shown');
  function apply() {
    var n = 0;
    rows.forEach(function (tr) {
      var ok = filters.every(function (f) { return !f[1].value || tr.dataset[f[0]] === f[1].value; });
      tr.hidden = !ok;
      if (ok) { n += 1; }
    });
    shown.textContent = shown.dataset.of.replace('{n}', n).replace('{m}', rows.length);
  }
  filters.forEach(function (f) { f[1].addEventListener('change', apply); });
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  heads.forEach(function (th, col) {
    var button = th.querySelector('button');
    if (!button) { return; }
    button.addEventListener('click', function () {
      var dir = th.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
      heads.forEach(function (h) { if (h.hasAttribute('data-key')) { h.setAttribute('aria-sort', 'none'); } });
      th.setAttribute('aria-sort', dir);
      var numeric = th.dataset.type === 'number';
      var sign = dir === 'ascending' ? 1 : -1;
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.sort, y = b.cells[col].dataset.sort;
        if (numeric) { x = parseFloat(x); y = parseFloat(y); x = isNaN(x) ? -1 : x; y = isNaN(y) ? -1 : y; }
        var c = numeric ? x - y : String(x).localeCompare(String(y), 'ja');
        return c !== 0 ? sign * c : a.dataset.order - b.dataset.order;
      });
      rows.forEach(function (tr) { body.appendChild(tr); });
    });
  });
  apply();
})();
"""


def _sha256_source(text: str) -> str:
    """A CSP hash source (``'sha256-…'``) of the exact text of an inline ``<style>`` or ``<script>``."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


#: The page's Content-Security-Policy: nothing from anywhere, but its own inline style and script, each allowed by
#: its SHA-256 (no 'unsafe-inline': text injected into the page could neither run a script nor style it), and
#: data: images.
CSP = (f"default-src 'none'; style-src {_sha256_source(STYLE)}; script-src {_sha256_source(SCRIPT)}; "
       "img-src data:; base-uri 'none'; form-action 'none'")

_NUMERIC = {"exit_code", "changed"}


def _status_of(r: Run) -> str:
    return r.outcome if r.verified else "unverified"


def _select(key: str, label: str, values: list[str], lang: str) -> str:
    _ = i18n.gettext(lang)
    opts = "".join(f'<option value="{escape(v)}">{escape(_(v) if key == "status" else v)}</option>' for v in values)
    return (f'<label>{escape(label)} <select id="filter-{key}"><option value="">{escape(_("all"))}</option>{opts}'
            "</select></label>")


def _runs_table(record: Record, lang: str) -> str:
    _ = i18n.gettext(lang)
    if not record.runs:
        return f'<p class="empty">{escape(_("No plan or apply in {month}.").format(month=record.month))}</p>'
    tasks = sorted({r.task for r in record.runs})
    envs = sorted({r.environment for r in record.runs})
    statuses = sorted({_status_of(r) for r in record.runs})
    head = "".join(f'<th data-key="{k}" data-type="{"number" if k in _NUMERIC else "text"}" aria-sort="none">'
                   f"<button type=\"button\">{escape(_(h))}</button></th>" for k, h, _g in COLUMNS)
    body = []
    for i, r in enumerate(record.runs):
        cells = []
        for key, _h, get in COLUMNS:
            value = get(r, lang)
            sort = r.started_at if key in ("date", "time") else value
            cls = ' class="num"' if key in _NUMERIC else ' class="id"' if key == "run_id" else ""
            title = f' title="{escape("; ".join(r.resources))}"' if key == "changed" and r.resources else ""
            title = f' title="{escape(said_all(r.problems, lang))}"' if key == "status" and r.problems else title
            cells.append(f'<td{cls}{title} data-sort="{escape(str(sort))}">{escape(str(value))}</td>')
        body.append(f'<tr class="run s-{escape(_status_of(r))}" data-order="{i}" data-task="{escape(r.task)}" '
                    f'data-environment="{escape(r.environment)}" data-status="{escape(_status_of(r))}">'
                    + "".join(cells) + "</tr>")
    of = _("{n} of {m} runs")
    filters = (_select("task", _("Task"), tasks, lang) + _select("environment", _("Environment"), envs, lang)
               + _select("status", _("Status"), statuses, lang)
               + f'<span id="shown" data-of="{escape(of)}">'
               f'{escape(of.format(n=len(record.runs), m=len(record.runs)))}</span>')
    return (f'<div class="filters">{filters}</div><table id="runs-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _chart(record: Record, lang: str) -> str:
    """Runs per day as stacked bars (ok, plans, not ok, unverified), non-business days shaded."""
    _ = i18n.gettext(lang)
    year, month = (int(x) for x in record.month.split("-"))
    ndays = stdlib_calendar.monthrange(year, month)[1]
    counts: dict[int, Counter[str]] = {d: Counter() for d in range(1, ndays + 1)}
    for r in record.runs:
        day = int(r.date[8:10])
        counts[day]["unverified" if not r.verified else "ok" if r.outcome == "ok" else
                    "plan" if r.outcome == "planned" else "bad"] += 1
    top = max([sum(c.values()) for c in counts.values()] + [1])
    w, h, left, bottom, bar = 24, 160, 32, 20, 16
    width = left + ndays * w + 8
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h + bottom + 10}" role="img" '
             f'aria-label="{escape(_("runs per day in {month}").format(month=record.month))}">',
             f'<text x="{left - 6}" y="14" text-anchor="end">{top}</text>',
             f'<text x="{left - 6}" y="{h + 4}" text-anchor="end">0</text>',
             f'<line x1="{left}" y1="{h + 0.5}" x2="{width - 8}" y2="{h + 0.5}" stroke="#d0d7de"/>']
    colours = (("ok", "#2e7d32"), ("plan", "#6e9bd1"), ("bad", "#c62828"), ("unverified", "#9e9e9e"))
    for d in range(1, ndays + 1):
        x = left + (d - 1) * w
        reason = non_business_reason(dt.date(year, month, d))
        if reason:
            parts.append(f'<rect x="{x}" y="4" width="{w}" height="{h - 4}" fill="#f4f4f4">'
                         f"<title>{escape(f'{year}-{month:02d}-{d:02d}: {reason}')}</title></rect>")
        y = float(h)
        for key, colour in colours:
            n = counts[d][key]
            if not n:
                continue
            bh = (h - 10) * n / top
            y -= bh
            parts.append(f'<rect class="bar bar-{key}" x="{x + (w - bar) / 2}" y="{y:.1f}" width="{bar}" '
                         f'height="{bh:.1f}" fill="{colour}"><title>{year}-{month:02d}-{d:02d}: {n} '
                         f"{_('not ok') if key == 'bad' else _(key)}</title></rect>")
        parts.append(f'<text x="{x + w / 2}" y="{h + 14}" text-anchor="middle">{d}</text>')
    parts.append("</svg>")
    legend = (f'<p class="legend"><span><i class="k-ok"></i>{escape(_("ok"))}</span>'
              f'<span><i class="k-plan"></i>{escape(_("plan"))}</span><span><i class="k-bad"></i>'
              f'{escape(_("failed, refused or invalid"))}</span><span><i class="k-unverified"></i>'
              f'{escape(_("unverified"))}</span><span><i class="k-closed"></i>{escape(_("not a business day"))}'
              '</span></p>')
    return "".join(parts) + legend


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] | None = None,
           classes: list[str] | None = None) -> str:
    numeric = numeric or set()
    num = ' class="num"'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    trs = []
    for i, row in enumerate(rows):
        cls = f' class="{escape(classes[i])}"' if classes else ""
        tds = "".join(f"<td{num if j in numeric else ''}>{escape(str(c))}</td>" for j, c in enumerate(row))
        trs.append(f"<tr{cls}>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(trs)}</tbody></table>"


def _list(items: list[str], empty: str) -> str:
    if not items:
        return f'<p class="empty">{escape(empty)}</p>'
    return "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def page(record: Record, lang: str = "en") -> str:
    """The whole page (a str of HTML, UTF-8 when written) in ``lang`` (``en`` or ``ja``)."""
    _ = i18n.gettext(lang)
    s = record.summary()
    title = f"{_('Record of work')} {record.month}" + (f" — {record.environment}" if record.environment else "")
    cards = [("runs", _("runs"), s["runs"], ""), ("ok", _("ok"), s["ok"], "ok"),
             ("failed", _("failed"), s["failed"], "bad"), ("refused", _("refused"), s["refused"], "bad"),
             ("invalid-input", _("invalid input"), s["invalid"], "bad"),
             ("unverified", _("unverified"), s["unverified"], "bad"), ("changed", _("changed"), s["changed"], ""),
             ("records", _("records of manual work"), s["records"], ""),
             ("findings", _("findings (ng)"), s["findings"], "bad"),
             ("pending-approval", _("pending approval"), s["pending"], "bad"),
             ("due-tasks-missed", _("due tasks missed"), s["missed"], "bad")]
    card_html = "".join(f'<div class="card{" " + c if c and n else ""}" id="card-{k}">'
                        f"<b>{n}</b>{escape(label)}</div>" for k, label, n, c in cards)
    totals = []
    for key, heading in (("by_task", _("Totals per task")), ("by_environment", _("Totals per environment"))):
        first = ["task", "name_ja"] if key == "by_task" else ["environment"]
        headers = [_("task"), _("name")] if key == "by_task" else [_("environment")]
        rows = getattr(record, key)
        totals.append(f"<h2>{escape(heading)}</h2>" + (_table(
            headers + [_(h) for h in TOTAL_HEADERS],
            [[row.get(k, "") for k in first] + [row[k] for k in TOTAL_COLUMNS] for row in rows],
            numeric=set(range(len(first), len(first) + len(TOTAL_COLUMNS)))) if rows
            else f'<p class="empty">{escape(_("None."))}</p>'))
    manual = (_table([_("date (JST)"), _("task"), _("name"), _("environment"), _("result"), _("operator"), _("note"),
                      _("attachments"), _("run ID")],
                     [[m.date, m.task, m.task_name_ja, m.environment,
                       _(RESULT_WORDS.get(m.result, m.result)) + ("" if m.verified else f" ({_('unverified')})"),
                       m.operator, m.note, m.attachments, m.run_id] for m in record.records],
                     numeric={7}, classes=[f"result-{m.result}" for m in record.records])
              if record.records else f'<p class="empty">{escape(_("None."))}</p>')
    findings = [f"{m.date} {m.task} {m.task_name_ja} ({m.environment}) {m.operator}: {m.note} {m.run_id}"
                for m in record.findings]
    failures = [f"{r.date} {r.time} {r.run_id} {r.task} {r.environment}: {_(r.outcome)}"
                + _(" (exit {exit_code})").format(exit_code=r.exit_code) + f": {r.message or r.status}"
                for r in record.failures]
    flagged = [f"{r.date} {r.time} {r.run_id} {r.task} {r.environment}: {said_all(r.flags, lang)}"
               for r in record.flagged]
    unverified = [f"{r.run_id}: {said_all(r.problems, lang)}" for r in record.unverified]
    unverified += [f"{m.run_id}: {said_all(m.problems, lang)}" for m in record.records if not m.verified]
    unverified += [f"{_('ledger')}: {p}" for p in record.ledger["problems"]]
    pending = [f"{p['date']} {p['run_id']} {p['task']} {p['environment']} " + pending_text(p, lang)
               for p in record.pending]
    due_rows = [[", ".join(d.days), d.until, d.task, d.name_ja, d.environment,
                 (d.why_ja or d.why) if lang == "ja" else d.why, state_word(d.state, lang), ", ".join(d.runs)]
                for d in record.due]
    due_html = (_table([_("due"), _("until"), _("task"), _("name"), _("environment"), _("why"), _("state"),
                        _("runs")], due_rows, classes=[f"state-{d.state}" for d in record.due]) if due_rows
                else f'<p class="empty">{escape(_("None due."))}</p>')
    states = ", ".join(f"{s[k]} {_(k)}" for k in DUE_STATES)
    none = _("None.")
    notes = [f"{_('note')}: {said(n, lang)}" for n in record.notes]
    return "\n".join([
        "<!doctype html>", f'<html lang="{lang}">', "<head>", '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
        f"<h1>{escape(title)}</h1>", f'<p class="prov">{escape(provenance(record, lang))}</p>',
        f'<section id="summary"><div class="cards">{card_html}</div><ul class="head">'
        + "".join(f"<li>{escape(x)}</li>" for x in headline(record, lang)) + "</ul></section>",
        f'<section id="chart"><h2>{escape(_("Runs per day"))}</h2>{_chart(record, lang)}</section>',
        f'<section id="runs"><h2>{escape(_("Runs"))}</h2>{_runs_table(record, lang)}</section>',
        f'<section id="totals">{"".join(totals)}</section>',
        f'<section id="records"><h2>{escape(_("Records of manual work"))}</h2>{manual}</section>',
        f'<section id="findings"><h2>{escape(_("Findings (ng)"))}</h2>{_list(findings, none)}</section>',
        f'<section id="failures"><h2>{escape(_("Failures and refusals"))}</h2>{_list(failures, none)}</section>',
        f'<section id="flags"><h2>{escape(_("Flags"))}</h2>{_list(flagged, none)}</section>',
        f'<section id="unverified"><h2>{escape(_("Unverified bundles"))}</h2>'
        f'{_list(unverified, _("None: every bundle verified."))}</section>',
        f'<section id="pending"><h2>{escape(_("Emergency changes pending approval"))}</h2>'
        f'{_list(pending, none)}</section>',
        f'<section id="due"><h2>{escape(_("Recurring tasks due"))} ({escape(states)})</h2>'
        f'{_list(due_summary(record, lang), _("Nothing missed, late or open."))}{due_html}'
        f'{_list(notes, "") if notes else ""}</section>',
        f"<script>{SCRIPT}</script>", "</body>", "</html>", ""])
