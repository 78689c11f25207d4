"""The deal map in real headless Chromium: the served deal page, the paste/upload page and the offline report.

Counts are checked against the map JSON the page was given (every person of the deal is drawn, every tie too),
the top-ranked person must be visibly marked, sizes must follow influence, the page must fit a 1366x768 laptop
screen, and the report must render from file:// with the network switched off. Screenshots land in a temporary
folder, or with INFLUENCE_UPDATE_SCREENSHOTS=1 in the committed reports/screenshots/ for a human to look at.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from influence.api._convert import deal_request_from_dataset

WAIT_S = 40


def wait_ready(driver: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_S).until(
        lambda d: (
            d.execute_script("return document.body && document.body.getAttribute('data-ready')") == "true"
            or d.execute_script("return !!document.querySelector('.notice.error')")
        )
    )
    error = driver.execute_script(
        "var e = document.querySelector('.notice.error'); return e && e.textContent"
    )
    assert not error, f"the page shows an error: {error}"


def console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def busiest_deal(ds: Any) -> str:
    """The deal with the most e-mails: the densest picture, the hardest to keep readable."""
    return str(ds.emails.groupby("deal_id").size().sort_values(ascending=False, kind="stable").index[0])


def rendered(driver: Any, root: str = "document") -> dict[str, Any]:
    """What the page drew, read from the DOM."""
    return driver.execute_script(
        f"""
        var root = {root};
        var nodes = Array.from(root.querySelectorAll('svg.dmu-svg g.dmu-node'));
        return {{
          ids: nodes.map(function (g) {{ return g.getAttribute('data-id'); }}),
          top: nodes.filter(function (g) {{ return g.getAttribute('data-top') === 'true'; }})
                    .map(function (g) {{ return g.getAttribute('data-id'); }}),
          topRing: root.querySelectorAll('g.dmu-node.top .top-ring').length,
          sellerSquares: root.querySelectorAll('g.dmu-node.seller rect.shape').length,
          edges: root.querySelectorAll('svg.dmu-svg line.dmu-edge').length,
          radius: Object.fromEntries(nodes.filter(function (g) {{ return g.querySelector('circle.shape'); }})
              .map(function (g) {{ return [g.getAttribute('data-id'), +g.querySelector('circle.shape').getAttribute('r')]; }})),
          firstRanked: (root.querySelector('ol.ranked > li') || {{}}).getAttribute
              ? root.querySelector('ol.ranked > li').getAttribute('data-id') : null,
          rankedItems: root.querySelectorAll('ol.ranked > li').length,
          legend: Array.from(root.querySelectorAll('.dmu-legend [data-profile]')).map(function (e) {{
              return e.getAttribute('data-profile'); }})
        }};
        """
    )


def check_map(drawn: dict[str, Any], deal_map: dict[str, Any]) -> None:
    nodes = deal_map["nodes"]
    scored = [n for n in nodes if n["scored"]]
    assert len(drawn["ids"]) == len(nodes) > 0
    assert sorted(drawn["ids"]) == sorted(n["id"] for n in nodes)
    assert drawn["edges"] == len(deal_map["edges"]) > 0
    sellers = [n for n in nodes if n["side"] == "seller"]
    assert sellers, "the generated deals always involve our team"
    assert drawn["sellerSquares"] == len(sellers)
    # Exactly one highlighted person: the rank-1 person, who also tops the side panel.
    rank1 = [n["id"] for n in scored if n["influence_rank"] == 1]
    assert drawn["top"] == rank1 == [deal_map["top_person_id"]]
    assert drawn["topRing"] == 1
    assert drawn["firstRanked"] == rank1[0]
    assert drawn["rankedItems"] == len(scored)
    # Size follows influence: a more influential person is never drawn smaller.
    by_influence = sorted(scored, key=lambda n: n["influence"])
    radii = [drawn["radius"][n["id"]] for n in by_influence]
    assert radii == sorted(radii)
    assert set(drawn["legend"]) == {n["profile"] for n in scored if n["profile"]}


def check_fits_laptop(driver: Any, figure: str = ".dmu-figure") -> None:
    """Every node lies inside the drawing, the drawing and the side panel inside the 1366 px width."""
    box = driver.execute_script(
        f"""
        var fig = document.querySelector('{figure}');
        var svg = fig.querySelector('svg.dmu-svg');
        var s = svg.getBoundingClientRect();
        var outside = Array.from(svg.querySelectorAll('g.dmu-node .shape')).filter(function (n) {{
          var b = n.getBoundingClientRect();
          return b.left < s.left - 1 || b.right > s.right + 1 || b.top < s.top - 1 || b.bottom > s.bottom + 1;
        }}).length;
        var panel = fig.parentNode.querySelector('.dmu-panel').getBoundingClientRect();
        return {{outside: outside, svgWidth: s.width, svgHeight: s.height, panelRight: panel.right,
                 panelWidth: panel.width, pageWidth: document.documentElement.scrollWidth,
                 viewWidth: document.documentElement.clientWidth}};
        """
    )
    assert box["outside"] == 0
    assert box["svgWidth"] >= 700 and box["svgHeight"] >= 400, box
    assert box["panelWidth"] >= 300 and box["panelRight"] <= 1366 + 1, box
    assert box["pageWidth"] <= box["viewWidth"], "no horizontal scrolling on a laptop screen"


# -- the served deal page ---------------------------------------------------------------------------------------
def test_deal_page_draws_every_person_and_marks_the_top_one(
    browser, server, model, screenshots: Path
) -> None:
    _, ds = model
    deal_id = busiest_deal(ds)
    deal_map = httpx.get(f"{server}/v1/dataset/deals/{deal_id}/map", timeout=WAIT_S).raise_for_status().json()
    browser.get(f"{server}/deals/{deal_id}")
    wait_ready(browser)
    check_map(rendered(browser), deal_map)
    check_fits_laptop(browser)
    assert browser.execute_script("return document.documentElement.scrollHeight") <= 768 + 1
    browser.save_screenshot(str(screenshots / "deal-map.png"))

    # Clicking a person selects them in the panel and dims everyone who has no tie with them.
    top = deal_map["top_person_id"]
    browser.execute_script(
        "document.querySelector('g.dmu-node[data-id=\"' + arguments[0] + '\"]')"
        ".dispatchEvent(new MouseEvent('click', {bubbles: true}))",
        top,
    )
    state = browser.execute_script(
        """return {selected: Array.from(document.querySelectorAll('ol.ranked > li.selected')).map(e => e.dataset.id),
                   dimmed: Array.from(document.querySelectorAll('g.dmu-node.dim')).map(e => e.dataset.id)}"""
    )
    neighbours = {e["target"] for e in deal_map["edges"] if e["source"] == top}
    neighbours |= {e["source"] for e in deal_map["edges"] if e["target"] == top}
    assert state["selected"] == [top]
    assert set(state["dimmed"]) == {n["id"] for n in deal_map["nodes"]} - neighbours - {top}
    assert console_errors(browser) == []


def test_deal_index_lists_every_deal_and_an_unknown_deal_says_so(browser, server, model) -> None:
    _, ds = model
    browser.get(f"{server}/deals")
    wait_ready(browser)
    links = browser.execute_script(
        "return Array.from(document.querySelectorAll('#deal-rows a')).map(a => a.getAttribute('href'))"
    )
    assert sorted(links) == sorted(f"/deals/{d}" for d in ds.deals["deal_id"].astype(str))

    browser.get(f"{server}/deals/NO-SUCH-DEAL")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.execute_script("return !!document.querySelector('.notice.error')")
    )
    text = browser.execute_script("return document.querySelector('.notice.error').textContent")
    assert "404" in text and "NO-SUCH-DEAL" in text
    console_errors(browser)  # drain the expected 404 from the log


# -- paste / upload ---------------------------------------------------------------------------------------------
def test_map_page_renders_a_pasted_and_an_uploaded_deal(
    browser, server, model, tmp_path: Path, screenshots: Path
) -> None:
    _, ds = model
    deals = ds.deals["deal_id"].astype(str).tolist()
    pasted, uploaded = deals[0], deals[-1]
    body = deal_request_from_dataset(ds, pasted)
    expected = httpx.post(f"{server}/v1/deals/map", json=body, timeout=WAIT_S).raise_for_status().json()

    browser.get(f"{server}/map")
    browser.execute_script("document.getElementById('deal-json').value = arguments[0]", json.dumps(body))
    browser.find_element("id", "render").click()
    wait_ready(browser)
    check_map(rendered(browser), expected)
    assert browser.execute_script("return document.querySelector('.dmu').dataset.deal") == pasted
    check_fits_laptop(browser)
    browser.save_screenshot(str(screenshots / "map-page.png"))
    assert console_errors(browser) == []

    # A broken body: the page lists the problem by JSON path instead of drawing anything.
    broken = json.loads(json.dumps(body))
    broken["people"][0]["side"] = "supplier"
    browser.execute_script("document.body.removeAttribute('data-ready')")
    browser.execute_script("document.getElementById('deal-json').value = arguments[0]", json.dumps(broken))
    browser.find_element("id", "render").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.execute_script("return !!document.querySelector('.notice.error')")
    )
    error = browser.execute_script("return document.querySelector('.notice.error').textContent")
    assert "422" in error and "body.people[0].side" in error
    console_errors(browser)  # drain the expected 422 from the log

    # Upload a file: rendered as soon as it is chosen.
    upload = tmp_path / "deal.json"
    upload.write_text(json.dumps(deal_request_from_dataset(ds, uploaded)), encoding="utf-8")
    browser.execute_script(
        "document.body.removeAttribute('data-ready'); document.getElementById('messages').textContent = ''"
    )
    browser.find_element("id", "deal-file").send_keys(str(upload))
    wait_ready(browser)
    assert browser.execute_script("return document.querySelector('.dmu').dataset.deal") == uploaded
    expected_upload = httpx.post(
        f"{server}/v1/deals/map", json=json.loads(upload.read_text()), timeout=WAIT_S
    ).json()
    check_map(rendered(browser), expected_upload)
    assert console_errors(browser) == []


# -- the offline report -----------------------------------------------------------------------------------------
HOSTILE_NAME = '</script><img src=x onerror="window.__pwned=1">Eve'


def test_report_renders_offline_from_a_file(browser, model, bundle_path, tmp_path, screenshots) -> None:
    from influence.contract import write_dataset
    from influence.report import write_report

    _, ds = model
    # A hostile display name must show up as text and run nothing.
    people = ds.people.copy()
    victim = people.index[people["side"] == "buyer"][0]
    people.loc[victim, "full_name"] = HOSTILE_NAME
    data = write_dataset({**ds.tables, "people": people}, tmp_path / "data")
    out = tmp_path / "report.html"
    summary = write_report(data, out, model=str(bundle_path))
    assert summary.deals == len(ds.deals)

    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    try:
        browser.get(out.resolve().as_uri())
        wait_ready(browser)
        maps = browser.execute_script(
            "return JSON.parse(document.getElementById('dmu-data').textContent).maps"
        )
        open_deals = browser.execute_script(
            "return Array.from(document.querySelectorAll('details.deal-section[open]')).map(d => d.dataset.deal)"
        )
        n_accounts = ds.deals["account_id"].nunique()
        assert len(open_deals) == n_accounts, "the first deal of every account is drawn"
        for deal_id in open_deals:
            root = f"document.querySelector('details.deal-section[data-deal=\"{deal_id}\"]')"
            check_map(rendered(browser, root), maps[deal_id])
        first = f'details.deal-section[data-deal="{open_deals[0]}"] .dmu-figure'
        check_fits_laptop(browser, first)
        # A closed deal is drawn when opened.
        closed = browser.execute_script(
            "var d = document.querySelector('details.deal-section:not([open])'); if (!d) return null;"
            "d.open = true; return d.dataset.deal"
        )
        if closed is not None:
            root = f"document.querySelector('details.deal-section[data-deal=\"{closed}\"]')"
            from selenium.webdriver.support.ui import WebDriverWait

            WebDriverWait(browser, WAIT_S).until(
                lambda d: d.execute_script(f"return {root}.querySelectorAll('g.dmu-node').length") > 0
            )
            check_map(rendered(browser, root), maps[closed])
        assert browser.execute_script("return window.__pwned === undefined")
        assert browser.execute_script("return document.querySelectorAll('img').length") == 0
        assert HOSTILE_NAME in browser.execute_script("return document.body.textContent")
        # Nothing was fetched: no resource entries at all (CSS, JS and data are inline).
        assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
        browser.execute_script("window.scrollTo(0, 0)")
        browser.save_screenshot(str(screenshots / "report.png"))
        browser.execute_script(
            "document.querySelector('details.deal-section[open]').scrollIntoView({block: 'start'})"
        )
        browser.save_screenshot(str(screenshots / "report-deal.png"))
        assert console_errors(browser) == []
    finally:
        browser.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
