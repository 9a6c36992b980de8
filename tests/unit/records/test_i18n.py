"""Japanese output (ops_driver/i18n.py, ops_driver/locale): the language chosen, the catalog complete and compiled
from a fresh checkout, and report.md, the monthly record, ``record`` and ``due`` in Japanese."""

from __future__ import annotations

import csv
import io
import json
import shutil
import string
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from ops_driver import i18n
from ops_driver.catalog import load_catalog
from ops_driver.cli import main
from ops_driver.errors import InvalidInput
from ops_driver.evidence import governance
from ops_driver.records import html, monthly, render
from ops_driver.run import report
from ops_driver.run.contract import RunRecord
from tests.support import evidence_month, runs

ROOT = Path(__file__).resolve().parents[3]
PO = ROOT / "ops_driver" / "locale" / "ja" / "LC_MESSAGES" / "ops_driver.po"


@pytest.mark.parametrize(("given", "environ", "expected"), [
    ("ja", {"OPS_LANG": "en"}, "ja"),
    (None, {"OPS_LANG": "ja", "LANG": "en_US.UTF-8"}, "ja"),
    (None, {"OPS_LANG": "en", "LANG": "ja_JP.UTF-8"}, "en"),
    (None, {"LANG": "ja_JP.UTF-8"}, "ja"),
    (None, {"LC_ALL": "C.UTF-8", "LANG": "ja_JP.UTF-8"}, "en"),  # LC_ALL comes first (setlocale(3))
    (None, {"LC_MESSAGES": "ja_JP.eucJP", "LANG": "C"}, "ja"),
    (None, {"LANG": "C.UTF-8"}, "en"),
    (None, {}, "en"),
])
def test_the_language_from_the_option_then_ops_lang_then_the_locale(given: str | None, environ: dict[str, str],
                                                                      expected: str) -> None:
    assert i18n.language(given, environ) == expected


def test_an_unknown_language_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="--lang: 'fr'"):
        i18n.language("fr", {})
    assert main(["due", "--lang", "fr"]) == 2


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_every_message_of_the_code_has_a_japanese_translation_with_the_same_placeholders() -> None:
    """The messages pybabel extracts from the code now (babel.cfg as `make messages` reads it, the ast extractor; no
    committed .pot trusted) are exactly the .po's, each translated, not fuzzy, with the msgid's placeholders, and
    each translation formats with them."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = {"_": None, "N_": None, "NP_": ((1, "c"), 2)}
    found = {(ctx, msg if isinstance(msg, str) else msg[0])
             for _file, _line, msg, _comments, ctx in extract_from_dir(str(ROOT), method_map, options_map,
                                                                        keywords=keywords)}
    with PO.open("rb") as f:
        catalog = read_po(f)
    held = {(m.context, m.id): m for m in catalog if m.id}
    assert found == set(held), (sorted(found - set(held)), sorted(set(held) - found))
    assert ("", "Summary") not in found and (None, "Summary") in found  # a message inside an f-string is found
    assert (None, "Class floor: every change in {environment} is at least **{floor}** (class_floor in "
                  "policy/change.yml).") in found  # report.md's later sentences are messages too
    for key, m in held.items():
        assert m.string and "fuzzy" not in m.flags, key
        assert _fields(str(m.id)) == _fields(str(m.string)), key
        values = dict.fromkeys(_fields(str(m.id)), "X")
        assert str(m.string).format(**values), key  # no stray brace in the translation


def test_the_extractor_finds_markers_in_f_strings_and_through_the_module_name() -> None:
    source = (b'x = f"## {_(\'Summary\')}"\nWORDS = (i18n.NP_("changed", "yes"), i18n.N_("Totals"), N_(name))\n'
              b'y = other.N_("not ours")\n')
    found = [(line, func, msg) for line, func, msg, _c in i18n.extract_python(io.BytesIO(source), (), (), {})]
    assert sorted(found, key=str) == sorted([(1, "_", "Summary"), (2, "N_", "Totals"), (2, "NP_", ("changed", "yes"))],
                                            key=str)


def test_a_fresh_checkout_compiles_the_po_at_first_use_into_the_cache(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    locale = tmp_path / "locale"
    (locale / "ja" / "LC_MESSAGES").mkdir(parents=True)
    shutil.copy(PO, locale / "ja" / "LC_MESSAGES" / PO.name)  # no .mo: as cloned
    monkeypatch.setattr(i18n, "LOCALE_DIR", locale)
    monkeypatch.setenv("OPS_CACHE_DIR", str(tmp_path / "cache"))
    i18n.translations.cache_clear()
    try:
        assert i18n.gettext("ja")("Totals per task") == "作業別の集計"
        cached = list((tmp_path / "cache" / "locale").glob("ja-*.mo"))
        assert len(cached) == 1
        assert not (locale / "ja" / "LC_MESSAGES" / "ops_driver.mo").exists()
        i18n.translations.cache_clear()
        (locale / "ja" / "LC_MESSAGES" / PO.name).write_bytes(PO.read_bytes().replace(
            "作業別の集計".encode(), "作業ごとの集計".encode()))  # an edited .po: compiled again, not the old cache
        assert i18n.gettext("ja")("Totals per task") == "作業ごとの集計"
        assert len(list((tmp_path / "cache" / "locale").glob("ja-*.mo"))) == 2
    finally:
        i18n.translations.cache_clear()


def test_change_classes_and_results_by_their_japanese_names() -> None:
    assert [i18n.change_class_word(c, "ja") for c in ("standard", "minor", "major", "emergency")] == [
        "標準", "軽微", "重大", "緊急"]
    assert i18n.change_class_word("minor", "en") == "minor" and i18n.change_class_word("odd", "ja") == "odd"
    assert [i18n.result_word(r, "ja") for r in ("done", "ng", "skipped")] == ["実施済", "NG", "対象外"]


def _run_record(kind: str = "plan") -> RunRecord:
    catalog = load_catalog()
    manifest: dict[str, Any] = {"run_id": "RUN-1", "kind": kind, "status": "planned", "exit_code": 0,
                                "change_class": "major", "change_class_catalog": "minor", "operator": "op",
                                "started_at": "2026-11-22T00:00:00Z", "ended_at": "2026-11-22T00:01:00Z"}
    return RunRecord(kind=kind, run_id="RUN-1", task=catalog.get("INFO-005"),
                     request={"task": "INFO-005", "environment": "sandbox", "ticket": "REQ-1", "requested_by": "sato",
                              "reason": "patching", "params": {}},
                     manifest=manifest, changes=[], targets=[], warnings=[], skipped=[], failures=[],
                     comparison=None, attachments={}, events=[], stdout="")


def test_report_md_in_japanese_and_english() -> None:
    ja = report.render(_run_record(), "ja")
    assert ja.startswith("# 計画（チェックモード、変更なし）: RUN-1")
    assert "## 作業依頼" in ja and "| 項目 | 値 |" in ja
    assert "| 変更区分 | 重大（作業依頼で引き上げ。カタログでは軽微） |" in ja
    assert "## 警告\n\nなし。" in ja and load_catalog().get("INFO-005").summary_ja.split("\n")[0][:20] in ja
    en = report.render(_run_record())
    assert en.startswith("# Plan (check mode, nothing changed): RUN-1") and "| change class | major (raised" in en
    assert "作業依頼" not in en


def test_the_monthly_record_in_japanese(_scratch_dirs: Path, signers: Any) -> None:
    import datetime as dt

    evidence_month.november(_scratch_dirs, signers)
    rec = monthly.collect(2026, 11, base=_scratch_dirs, today=dt.date(2026, 12, 3))
    md = render.markdown(rec, "ja")
    for heading in ("# 作業実施実績 2026-11", "## 概要", "## 実行", "## 作業別の集計", "## 環境別の集計",
                    "## 手作業の実施記録", "## 指摘事項（NG）", "## 失敗と拒否", "## 未検証の証跡",
                    "## 事後承認待ちの緊急変更", "## 定常作業の予定と実施状況"):
        assert f"\n{heading}\n" in f"\n{md}", heading
    assert "| 2026-11-02 | 09:10 | INFO-005 | システム起動/停止 / インスタンス停止 | sandbox | 計画 |" in md
    assert "| 軽微 | 計画済, 適用済 |" in md  # the change class and the plan's fate in Japanese
    assert "- 未実施: STAT-001 始業確認 (prod) 予定日 11-05" in md
    assert "2026-11 の実行 14 件（全環境）" in md
    rows = list(csv.reader(io.StringIO(render.csv_text(rec, "ja"))))
    assert rows[0][:5] == ["日付（JST）", "時刻", "作業ID", "作業名", "環境"] and len(rows) == 15
    assert next(csv.reader(io.StringIO(render.csv_text(rec))))[:3] == ["date", "time", "task"]
    page = html.page(rec, "ja")
    assert '<html lang="ja">' in page and "<h2>作業別の集計</h2>" in page and 'data-of="{m} 件中 {n} 件を表示"' in page
    assert "Totals per task" not in page and '<html lang="en">' in html.page(rec)
    # what the record writes in English (approvers, problems, notes, the due rules) is shown in Japanese
    assert " | suzuki（事後承認） | 緊急 | " in md and "suzuki (after the fact)" in render.markdown(rec)
    assert "`: report.md: 改変あり（SHA-256 が manifest.json と不一致）\n" in md
    assert "`: 台帳に記録のない証跡（ops-driver 以外で追加）\n" in md
    assert "\n- 備考: 手作業の定常作業 " in md and " | 始業確認 | prod | 毎営業日 | 実施済 | " in md
    for english in ("(after the fact)", "altered", "not in the ledger", "recurring manual task", "business day"):
        assert english not in md and english not in page, english
    stat001 = next(d for d in rec.to_json()["due"] if d["task"] == "STAT-001")
    assert stat001["why"] == "every business day" and stat001["why_ja"] == "毎営業日"  # JSON: English, and Japanese


def test_record_and_due_in_japanese(_scratch_dirs: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPS_TODAY", "2026-12-07")
    monkeypatch.setenv("OPS_LANG", "ja")  # no --lang: from the environment
    assert main(["record", "COMM-014", "--result", "ng", "--note", "web01 応答なし", "--json"]) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    text = (_scratch_dirs / run_id / "report.md").read_text(encoding="utf-8")
    assert text.startswith("# 手作業の実施記録: COMM-014 始業開始前のシステム正常性確認")
    assert "- 結果: **NG**" in text and "web01 応答なし" in text
    assert main(["due"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2026-12-07（月曜日）営業日: prod の予定作業") and "NG 1" in out
    assert "[NG] COMM-014 日次" in out and "[未了] STAT-001 日次" in out
    assert main(["due", "--lang", "en"]) == 0
    assert capsys.readouterr().out.startswith("2026-12-07 (Monday), a business day:")


#: The English sentences of report.md that a Japanese report must not show (issue #26 item 4: the lines added to
#: report.md after the catalog was first made).
ENGLISH = ("Class floor", "every change in", "Maintenance window", "the apply refuses outside it", "waits for it",
           "maintenance window", "the apply runs only inside it", "Check findings", "Verdict", "Window ",
           "finding(s)", "Files leaving production", "Files transferred", "file(s)", "bytes", "Direction",
           "personal data", "Checks passed", "passed:", "approval(s)", "no approval needed", "Parameters:",
           "(exit ", "Schedule ", "scheduled day", "predicted", "PENDING POST-APPROVAL", "after the fact",
           "None resolved", "No EC2 instance", "| at |", "| yes |", "| no |")


def _japanese_plan() -> RunRecord:
    """A plan in prod with a class floor, a maintenance window, check findings, files leaving production, a guard
    that passed, a task skipped and a schedule (tests/support/runs.py)."""
    window = {"text": "2026-12-08T02:00+09:00/PT2H", "start": "2026-12-07T17:00:00Z", "end": "2026-12-07T19:00:00Z"}
    check = {"verdict": "findings", "fail_level": "HIGH", "summary": "1 finding",
             "window": {"since": "2026-12-06T15:00:00Z", "until": "2026-12-07T15:00:00Z", "source": "GuardDuty"},
             "findings": [{"level": "MEDIUM", "source": "GuardDuty", "time": "2026-12-07T01:00:00Z",
                           "resource": "i-0abc", "finding": "Recon:EC2/PortProbeUnprotectedPort", "detail": "port 22",
                           "id": "f-1"}]}
    evidence = {"direction": "prod_to_maint", "personal_data": True, "encryption": "aes256", "check": check,
                "manifests": {"nas-prod": {"source": {"a.csv": "aa" * 32}, "dest": {},
                                           "files": [{"rel": "a.csv", "size": 10, "sha256": "aa" * 32}]}}}
    manifest = {"environment": "prod", "change_class": "minor", "change_class_floor": "minor",
                "change_class_catalog": "standard", "approvals_required": 1, "window": window, "evidence": evidence,
                "schedule": {"name": "dedicated_host_reboot", "scheduled": False, "emergency": False,
                             "today": "2026-12-07", "today_source": "clock", "scheduled_date": "2026-12-12"}}
    skipped = [{"task": "Refuse targets of another environment", "reason": "Conditional result was False"},
               {"task": "Copy the files", "reason": "check mode"}]
    changes = [{"host": "nas-prod", "resource": "file", "name": "a.csv", "action": "copy", "changed": True}]
    return runs.record("plan", "RUN-1", "STAT-011", manifest_keys=manifest, skipped=skipped, changes=changes,
                       request={"task": "STAT-011", "environment": "prod", "ticket": "REQ-1", "requested_by": "sato",
                                "reason": "monthly transfer", "params": {"files": ["a.csv"]}})


def test_report_md_in_japanese_has_no_english_sentence() -> None:
    """report.md of a plan with a class floor, a maintenance window, check findings and files leaving production,
    and of an emergency apply pending post-approval, all in Japanese; the English report as before."""
    ja = report.render(_japanese_plan(), "ja")
    for said in ("最低区分: prod の変更はすべて **軽微** 以上として扱います（policy/change.yml の class_floor）。",
                 "| 変更区分 | 軽微（policy/change.yml のprodの最低区分。カタログでは標準） |",
                 "保守時間帯: 2026-12-08 02:00:00 JST (+09:00) / 2026-12-07T17:00:00Z 〜 2026-12-08 04:00:00 JST "
                 "(+09:00) / 2026-12-07T19:00:00Z。この時間帯以外では適用を拒否します。"
                 "`ops-driver apply RUN-1 --at-window` で開始まで待機できます。",
                 "| 保守時間帯 | 2026-12-08 02:00:00 JST (+09:00) / 2026-12-07T17:00:00Z 〜 ",
                 "（2026-12-08T02:00+09:00/PT2H）。適用はこの時間帯内のみ |",
                 "\n## 点検結果\n\n判定: **指摘 1 件**（いずれも HIGH 未満）。対象期間 2026-12-06T15:00:00Z – "
                 "2026-12-07T15:00:00Z（GuardDuty）。\n",
                 "| レベル | 取得元 | 日時（UTC） | リソース | 指摘内容 | 詳細 | ID |",
                 "\n## 本番環境から持ち出すファイル: 1 件、10 バイト\n\n転送方向 prod_to_maint。**個人情報を含む**"
                 "（seed 004: 暗号化: aes256）。\n",
                 "| ホスト | ファイル | サイズ（バイト） | SHA-256 |",
                 "\n## 合格した確認項目\n\n- 合格: Refuse targets of another environment\n",
                 "\n## チェックモードで省略したタスク\n\n- Copy the files (check mode)\n",
                 "**軽微**変更: 現在の内容のこの計画に、異なる 1 名の承認が記録されるまで `ops-driver apply` は",
                 "状態: **planned**（終了コード 0）", "年間計画 `dedicated_host_reboot`: 予定日以外。本日 2026-12-07",
                 "パラメーター:", "| ホスト | リソース | 名前 | 操作 | 変更前 | 変更後 | 変更 |",
                 "| nas-prod | file | a.csv | copy | — | — | あり |"):
        assert said in ja, said
    for english in ENGLISH:
        assert english not in ja, english
    en = report.render(_japanese_plan())
    assert "Class floor: every change in prod is at least **minor** (class_floor in policy/change.yml)." in en
    assert "\n## Check findings\n\nVerdict: **1 finding(s)** under HIGH. Window 2026-12-06T15:00:00Z" in en
    assert "\n## Files leaving production: 1 file(s), 10 bytes\n\nDirection prod_to_maint;" in en
    assert "the apply refuses outside it; `ops-driver apply RUN-1 --at-window` waits for it." in en
    assert "| a.csv | copy | — | — | yes |" in en and "## Checks passed\n\n- passed: Refuse" in en

    apply = runs.record("apply", "RUN-2", "INFO-005", manifest_keys={
        "change_class": "emergency", "pending_post_approval": True, "environment": "prod",
        "approvals": [{"by": "suzuki", "at": "2026-11-22T00:00:00Z", "comment": "ok", "manifest_sha256": "ab" * 32}]},
        comparison={"matched": ["r/1"], "unpredicted": [], "not_done": ["r/2"]}, failures=[
            {"host": "h", "task": "t", "msg": "boom"}])
    ja = report.render(apply, "ja")
    for said in ("| 承認者 | 日時 | コメント | 計画マニフェストの SHA-256 |", "- 予測どおり実施: 1 件\n",
                 "- 予測したが**未実施**: 1 件 r/2\n", "**事後承認待ち**（緊急変更）: `ops-driver approve RUN-2 --key "
                 "YOUR_SSH_KEY` で事後承認してください。", "対象を特定できませんでした（下記の「失敗」を参照）。"):
        assert said in ja, said
    for english in ENGLISH:
        assert english not in ja, english


def test_due_month_and_the_records_due_rules_in_japanese(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["due", "--month", "2027-05", "--lang", "ja"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2027-05: 営業日 18 日（bd: 第何営業日か）、* は自動化済み\n毎日（24H）: COMM-010 CORE-018\n")
    assert "\n水 05-05  -- こどもの日 (Children's Day)\n" in out and "\n土 05-01  -- 土曜日   CORE-049*[maint]" in out
    assert "\n  第1営業日: COMM-018 STAT-013* STAT-014\n" in out and "\n  第9〜第10営業日: STAT-004 STAT-005\n" in out
    assert "  年間計画 dedicated_host_reboot: sandbox、第1水曜日（2027-05-05 から変更: 祝日 こどもの日）: " in out
    assert "\n規則:\n" in out and "年次で月の指定（timing.months）がないため表示していない作業: COMM-002" in out
    for english in ("business day", "every day", "rules:", "yearly", "weekly", "Sat ", "Saturday", "note:"):
        assert english not in out, english
    assert main(["due", "--month", "2027-05", "--lang", "en"]) == 0
    assert "  1st business day: COMM-018 STAT-013* STAT-014" in capsys.readouterr().out
    assert main(["due", "--date", "2027-05-01", "--lang", "ja"]) == 0
    assert capsys.readouterr().out.startswith("2027-05-01（土曜日）非営業日: 土曜日: prod の予定作業")
    assert main(["due", "--date", "2027-05-06", "--lang", "ja"]) == 0
    out = capsys.readouterr().out
    assert "   プレイブック playbooks/" in out and "   playbook " not in out
    assert main(["due", "--date", "2027-05-06", "--json"]) == 0
    tasks = {t["id"]: t for t in json.loads(capsys.readouterr().out)["tasks"]}
    assert tasks["STAT-013"]["why"] == "1st business day" and tasks["STAT-013"]["why_ja"] == "第1営業日"


def test_what_a_record_writes_in_english_is_reworded_in_japanese() -> None:
    """Every message of monthly.SAID, made with sample fields, read back: itself in English, its translation with
    the same fields in Japanese; other text as it is."""
    translate = i18n.gettext("ja")
    for message in monthly.SAID:
        values = {f: f"<{f}>" for f in _fields(message)}
        text = message.format(**values)
        assert i18n.reword(text, monthly.SAID, "en") == text
        assert i18n.reword(text, monthly.SAID, "ja") == translate(message).format(**values), message
    assert i18n.reword("something else", monthly.SAID, "ja") == "something else"
    flag = governance.approval_shortfall({"approvals_required": 2, "plan_id": "P-1", "approvals": []}, None, [])
    assert flag == "applied with 0 approval(s) of the 2 its plan P-1 required"
    assert i18n.reword(flag, monthly.SAID, "ja") == "計画 P-1 に必要な承認 2 件のうち 0 件で適用"
