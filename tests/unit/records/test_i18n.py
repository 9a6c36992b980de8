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
from babel.messages.pofile import read_po

from ops_driver import i18n
from ops_driver.catalog import load_catalog
from ops_driver.cli import main
from ops_driver.errors import InvalidInput
from ops_driver.records import html, monthly, render
from ops_driver.run import report
from ops_driver.run.contract import RunRecord
from tests.support import evidence_month

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
    """The messages pybabel extracts (babel.cfg: the ast extractor) are exactly the .po's, each translated."""
    method_map = [("ops_driver/**.py", "ops_driver.i18n:extract_python")]
    keywords = {"_": None, "N_": None, "NP_": ((1, "c"), 2)}
    found = {(ctx, msg if isinstance(msg, str) else msg[0])
             for _file, _line, msg, _comments, ctx in extract_from_dir(str(ROOT), method_map, keywords=keywords)}
    with PO.open("rb") as f:
        catalog = read_po(f)
    held = {(m.context, m.id): m for m in catalog if m.id}
    assert found == set(held), (sorted(found - set(held)), sorted(set(held) - found))
    assert ("", "Summary") not in found and (None, "Summary") in found  # a message inside an f-string is found
    for key, m in held.items():
        assert m.string and "fuzzy" not in m.flags, key
        assert _fields(str(m.id)) == _fields(str(m.string)), key


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
