"""The monthly record's HTML page in a real headless browser: Debian's chromium through chromium-driver (Selenium).

Selenium gets both paths, so Selenium Manager never downloads a browser or a driver (``make sysdeps`` installs
the Debian packages ``chromium`` and ``chromium-driver``). One browser session for the module. The page is opened
from a file (``file://``) with the network of the browser unused: the page is self-contained, and its
Content-Security-Policy would make any fetch a console error, which the tests fail on. Screenshots go to
``.artifacts/`` (ignored by git).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from ops_driver.evidence import signing
from ops_driver.paths import project_root
from ops_driver.records import html, monthly
from tests.support import evidence_month
from tests.support.signers import Signers

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = project_root() / ".artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        assert path.is_file(), f"{path} missing: install the Debian package {package} (make sysdeps)"
    profile = tempfile.mkdtemp(prefix="ops-records-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                "--window-size=1400,1600", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The record of 2026-11 as a page in English and in Japanese."""
    base = tmp_path_factory.mktemp("evidence")
    keys = Signers(tmp_path_factory.mktemp("signers"))
    folder = tmp_path_factory.mktemp("page")
    out = {}
    with pytest.MonkeyPatch.context() as mp:  # suzuki's signed approval is checked against the test's signers
        mp.setattr(signing, "policy_signers_path", lambda: keys.path)
        evidence_month.november(base, keys)
        record = monthly.collect(2026, 11, base=base, today=dt.date(2026, 12, 3))
        for lang in ("en", "ja"):
            out[lang] = folder / f"record-2026-11-{lang}.html"
            out[lang].write_text(html.page(record, lang), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def page(pages: dict[str, Path]) -> Path:
    return pages["en"]


def visible_rows(driver: Any) -> list[Any]:
    return [tr for tr in driver.find_elements(By.CSS_SELECTOR, "#runs-table tbody tr.run") if tr.is_displayed()]


def column(driver: Any, key: str) -> list[str]:
    heads = driver.find_elements(By.CSS_SELECTOR, "#runs-table thead th")
    index = next(i for i, th in enumerate(heads) if th.get_attribute("data-key") == key)
    return [tr.find_elements(By.TAG_NAME, "td")[index].text for tr in visible_rows(driver)]


def console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def test_the_page_holds_the_runs_filters_by_task_and_sorts(browser: Any, page: Path) -> None:
    browser.get(page.as_uri())
    assert browser.title == "Record of work 2026-11"
    assert len(visible_rows(browser)) == 14
    assert browser.find_element(By.ID, "shown").text == "14 of 14 runs"
    assert column(browser, "date")[0] == "2026-11-02" and column(browser, "date")[-1] == "2026-11-30"
    assert browser.find_element(By.ID, "card-unverified").text.split()[0] == "2"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart svg rect.bar")) == 12  # plans apart from ok applies
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "records-page.png"))

    Select(browser.find_element(By.ID, "filter-task")).select_by_value("INFO-005")
    assert set(column(browser, "task")) == {"INFO-005"} and len(visible_rows(browser)) == 4
    assert browser.find_element(By.ID, "shown").text == "4 of 14 runs"
    Select(browser.find_element(By.ID, "filter-status")).select_by_value("refused")
    assert column(browser, "status") == ["drifted"]
    Select(browser.find_element(By.ID, "filter-status")).select_by_value("")
    Select(browser.find_element(By.ID, "filter-environment")).select_by_value("prod")
    assert visible_rows(browser) == [] and browser.find_element(By.ID, "shown").text == "0 of 14 runs"
    Select(browser.find_element(By.ID, "filter-task")).select_by_value("")
    assert set(column(browser, "environment")) == {"prod"} and len(visible_rows(browser)) == 6
    assert browser.save_screenshot(str(ARTIFACTS / "records-page-filtered.png"))
    Select(browser.find_element(By.ID, "filter-environment")).select_by_value("")
    assert len(visible_rows(browser)) == 14

    changed = browser.find_element(By.CSS_SELECTOR, 'th[data-key="changed"]')
    changed.find_element(By.TAG_NAME, "button").click()
    assert changed.get_attribute("aria-sort") == "ascending"
    values = [int(v) if v else -1 for v in column(browser, "changed")]  # a plan changes nothing: blank
    assert values == sorted(values) and values[-1] == 2 and values[0] == -1
    changed.find_element(By.TAG_NAME, "button").click()
    assert changed.get_attribute("aria-sort") == "descending"
    assert [int(v) if v else -1 for v in column(browser, "changed")] == sorted(values, reverse=True)
    task = browser.find_element(By.CSS_SELECTOR, 'th[data-key="task"]')
    task.find_element(By.TAG_NAME, "button").click()
    assert task.get_attribute("aria-sort") == "ascending" and changed.get_attribute("aria-sort") == "none"
    tasks = column(browser, "task")
    assert tasks == sorted(tasks) and tasks[0] == "INFO-004" and tasks[-1] == "STAT-013"
    assert console_errors(browser) == []


def test_an_empty_month_page_says_so(browser: Any, tmp_path: Path) -> None:
    out = tmp_path / "empty.html"
    out.write_text(html.page(monthly.collect(2026, 8, base=tmp_path / "none", today=dt.date(2026, 12, 3))),
                   encoding="utf-8")
    browser.get(out.as_uri())
    assert "No plan or apply in 2026-08" in browser.find_element(By.ID, "runs").text
    assert browser.find_elements(By.CSS_SELECTOR, "#runs-table") == []
    assert "MISSED" in browser.find_element(By.ID, "due").text
    assert console_errors(browser) == []


def test_the_japanese_page_filters_and_reads_in_japanese(browser: Any, pages: dict[str, Path]) -> None:
    browser.get(pages["ja"].as_uri())
    assert browser.title == "作業実施実績 2026-11"
    assert browser.find_element(By.CSS_SELECTOR, "html").get_attribute("lang") == "ja"
    assert browser.find_element(By.ID, "shown").text == "14 件中 14 件を表示"
    heads = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#runs-table thead th")]
    assert heads[:5] == ["日付（JST）", "時刻", "作業ID", "作業名", "環境"] and "変更区分" in heads
    assert "軽微" in column(browser, "change_class") and "計画" in column(browser, "kind")
    assert browser.find_element(By.CSS_SELECTOR, "#totals h2").text == "作業別の集計"
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "records-page-ja.png"))
    Select(browser.find_element(By.ID, "filter-task")).select_by_value("INFO-005")
    assert len(visible_rows(browser)) == 4 and browser.find_element(By.ID, "shown").text == "14 件中 4 件を表示"
    Select(browser.find_element(By.ID, "filter-status")).select_by_visible_text("拒否")
    assert column(browser, "status") == ["drifted"]
    assert console_errors(browser) == []
