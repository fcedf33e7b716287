"""A real browser (headless Chromium driven by Selenium) uses the web view as a person would:
searches for words of a crawled article, opens it, looks at the sources page; a hostile
title shows as text and runs nothing.

Needs Debian's chromium and chromium-driver (`.ci/run` installs them); without them the tests
skip and say so.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.crawled import HOSTILE_TITLE, Crawled, crawled
from tests.webserver import serving
from web.app import WebSettings, create_app

__all__ = ["crawled"]

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
WAIT = 30  # seconds a page may take to show what the test waits for (2 shared cores)

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None or DRIVER is None,
        reason="no chromium / chromedriver on PATH: apt-get install chromium chromium-driver",
    ),
    # One database is enough for the browser: the API and page tests cover both.
    pytest.mark.parametrize("crawled", ["sqlite"], indirect=True),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    assert CHROMIUM is not None and DRIVER is not None
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def site_url(crawled: Crawled) -> Iterator[str]:
    app = create_app(
        WebSettings(database=crawled.database, schedules={"ledger": "every 15m", "ledger-blog": "every 2h"})
    )
    with serving(app) as url:
        yield url


def search_for(browser: WebDriver, site_url: str, query: str) -> None:
    browser.get(site_url + "/")
    box = WebDriverWait(browser, WAIT).until(ec.presence_of_element_located((By.ID, "q")))
    box.clear()
    box.send_keys(query)
    browser.find_element(By.ID, "go").click()
    WebDriverWait(browser, WAIT).until(ec.text_to_be_present_in_element((By.ID, "summary"), "match"))


def test_search_then_open_the_article(browser: WebDriver, site_url: str) -> None:
    search_for(browser, site_url, "torrential")
    assert "1 article match" in browser.find_element(By.ID, "summary").text
    marks = browser.find_elements(By.CSS_SELECTOR, "#results mark")
    assert [m.text.lower() for m in marks] == ["torrential"]
    browser.find_element(By.CSS_SELECTOR, "#results .hit a.title").click()
    title = WebDriverWait(browser, WAIT).until(ec.presence_of_element_located((By.ID, "title")))
    assert title.text == "Floods Displace Thousands as River Delta Braces for More Rain"
    assert "torrential rain" in browser.find_element(By.ID, "text").text
    assert browser.current_url.startswith(site_url + "/articles/")


def test_phrase_and_prefix_from_the_search_box(browser: WebDriver, site_url: str) -> None:
    search_for(browser, site_url, '"central bank"')
    titles = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#results .hit a.title")]
    assert "Central Bank Holds Rates Steady, Signals Patience on Cuts" in titles
    search_for(browser, site_url, "torrent*")
    assert browser.find_elements(By.CSS_SELECTOR, "#results mark")


def test_a_bad_query_is_explained_on_the_page(browser: WebDriver, site_url: str) -> None:
    browser.get(site_url + "/")
    box = WebDriverWait(browser, WAIT).until(ec.presence_of_element_located((By.ID, "q")))
    box.send_keys('"central bank')
    browser.find_element(By.ID, "go").click()
    error = WebDriverWait(browser, WAIT).until(ec.presence_of_element_located((By.ID, "error")))
    assert "quote is not closed" in error.text


def test_sources_page_shows_each_source_with_its_chart_and_runs(browser: WebDriver, site_url: str) -> None:
    browser.get(site_url + "/")
    browser.find_element(By.ID, "nav-sources").click()
    table = WebDriverWait(browser, WAIT).until(ec.presence_of_element_located((By.ID, "sources")))
    names = [a.text for a in table.find_elements(By.CSS_SELECTOR, "a.source")]
    assert names == ["ledger", "ledger-blog"]
    charts = table.find_elements(By.CSS_SELECTOR, "td.spark svg")
    assert len(charts) == 2 and all(c.size["width"] > 0 and c.size["height"] > 0 for c in charts)
    assert len(table.find_elements(By.CSS_SELECTOR, ".status.ok")) >= 2
    table.find_element(By.LINK_TEXT, "ledger").click()
    chart = WebDriverWait(browser, WAIT).until(ec.presence_of_element_located((By.ID, "per-day")))
    assert chart.find_element(By.TAG_NAME, "svg").size["height"] > 100
    assert browser.find_element(By.ID, "fill").is_displayed()


def test_a_hostile_title_shows_as_text_and_runs_nothing(browser: WebDriver, site_url: str) -> None:
    search_for(browser, site_url, "harbourmasters")
    link = browser.find_element(By.CSS_SELECTOR, "#results .hit a.title")
    assert link.text == HOSTILE_TITLE
    link.click()
    title = WebDriverWait(browser, WAIT).until(ec.presence_of_element_located((By.ID, "title")))
    assert title.text == HOSTILE_TITLE
    assert browser.title.startswith("<script>")  # the tab shows the markup as text
    assert browser.title != "pwned" and not browser.find_elements(By.CSS_SELECTOR, "#text img")
