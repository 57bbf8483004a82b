"""The console's journeys section, in-process on SQLite and PostgreSQL: every tab and report
for the roles that may read analytics (403 for the others), the funnel builder's numbers
(the API's), the people who dropped (masked for analysts, CSV), and 422 pages naming the
field for what cannot be used."""

from __future__ import annotations

import csv
import io
import re
from html import unescape
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from omnicx.analytics import event_catalog
from omnicx.analytics.event_catalog import forget
from omnicx.console import journeys_common
from tests.console.support import sign_in
from tests.profiles.helpers import Shop, identify, token, track

ROLES = ("admin", "marketer", "analyst", "support")
READERS = ("admin", "marketer", "analyst")
STEPS = ["Product Viewed", "Product Added", "Order Completed"]
TABS = ("funnel", "paths", "retention", "stages", "channels", "attribution", "value")


@pytest.fixture
def shop(console: TestClient, engine: Engine) -> Shop:
    """Ada views on the web, adds in the app and buys in the store; Bob views and adds in the
    app; Cy only views on the web. Processing writes the lake the console reads."""
    forget()
    shop = Shop(engine)
    shop.owner("web", "web")
    shop.owner("app", "ios")
    shop.owner("store", "store_pos")
    shop.send(
        "web",
        identify("ada", traits={"email": "ada.lovelace@example.com", "name": "Ada Lovelace"}),
        track("Product Viewed", "ada", {"product_id": "P1"}, days=1),
        identify("cy", traits={"email": "cy.young@example.com", "name": "Cy Young"}, days=2),
        track("Product Viewed", "cy", {"product_id": "P2"}, days=2),
    )
    shop.send(
        "app",
        track("Product Added", "ada", {"product_id": "P1"}, days=1.1),
        identify("bob", traits={"email": "bob.moses@example.com", "name": "Bob Moses"}, days=3),
        track("Product Viewed", "bob", {"product_id": "P1"}, days=3),
        track("Product Added", "bob", {"product_id": "P1"}, days=3.1),
    )
    shop.send(
        "store",
        track(
            "Order Completed",
            "ada",
            {"order_id": "R1", "total": 120.0, "currency": "EUR"},
            days=4,
        ),
    )
    return shop


def _funnel_query(steps: list[str] = STEPS, **more: str) -> str:
    pairs: list[tuple[str, str]] = []
    for step in steps:
        pairs += [("step", step), ("filter", "")]
    pairs += [("window", "30"), ("unit", "days"), ("ordering", "ordered")]
    pairs += [("breakdown", "channel"), ("breakdown_name", ""), ("attribution", "first")]
    return urlencode(pairs + list(more.items()))


def _result_url(page: str) -> str:
    found = re.search(r'hx-get="(/console/journeys/[a-z]+/result\?[^"]*)"', page)
    assert found, "the page has no report slot"
    return unescape(found.group(1))


def _htmx(client: TestClient, url: str) -> str:
    answer = client.get(url, headers={"HX-Request": "true"})
    assert answer.status_code == 200, answer.text[:3000]
    return answer.text


def _step_counts(html: str) -> list[int]:
    """The People column of the funnel's step table, as numbers."""
    cells = re.findall(r'<td class="number people">([^<]*)</td>', html)
    return [int(c.replace(",", "")) for c in cells]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


@pytest.mark.parametrize("role", ROLES)
def test_every_tab_and_report_is_for_analytics_readers_only(
    console: TestClient, shop: Shop, role: str
) -> None:
    sign_in(console, role)
    urls = [f"/console/journeys/{tab}" for tab in TABS]
    urls += [f"/console/journeys/{tab}/result" for tab in TABS if tab != "funnel"]
    urls += [
        f"/console/journeys/funnel?{_funnel_query()}",
        f"/console/journeys/funnel/result?{_funnel_query()}",
        f"/console/journeys/funnel/dropped?{_funnel_query(dropped='2')}",
        f"/console/journeys/funnel/dropped.csv?{_funnel_query(dropped='2')}",
    ]
    for url in urls:
        answer = console.get(url)
        if role in READERS:
            assert answer.status_code == 200, (url, answer.text[:2000])
        else:
            assert answer.status_code == 403, url
            assert "analytics.read" in answer.text
    home = console.get("/console/journeys", follow_redirects=False)
    if role in READERS:
        assert home.status_code == 303
        assert home.headers["location"] == "/console/journeys/funnel"
    else:
        assert home.status_code == 403


def test_the_section_needs_a_session(console: TestClient) -> None:
    answer = console.get(f"/console/journeys/funnel?{_funnel_query()}", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/login?next=/console/journeys/funnel")
    fragment = console.get(
        "/console/journeys/paths/result", headers={"HX-Request": "true"}, follow_redirects=False
    )
    assert fragment.status_code == 401
    assert fragment.headers["HX-Redirect"].startswith("/console/login")


def test_the_builder_offers_the_events_in_the_data(console: TestClient, shop: Shop) -> None:
    sign_in(console, "analyst")
    page = console.get("/console/journeys/funnel")
    assert page.status_code == 200
    assert 'aria-current="page">Journeys<' in page.text
    options = re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)</option>', page.text)
    assert ("Product Viewed", "Product Viewed (3)") in options
    assert ("Order Completed", "Order Completed (1)") in options
    assert "hx-get" not in page.text  # no steps chosen: nothing to compute yet


def test_a_funnel_shows_the_apis_numbers_and_keeps_its_state_in_the_address(
    console: TestClient, shop: Shop, engine: Engine
) -> None:
    sign_in(console, "analyst")
    page = console.get(f"/console/journeys/funnel?{_funnel_query()}")
    assert page.status_code == 200
    # The form shows the funnel asked for: a bookmark opens the same funnel.
    for number, step in enumerate(STEPS, 1):
        chosen = re.search(rf'<select id="step-{number}".*?</select>', page.text, re.S)
        assert chosen and f'<option value="{step}" selected>' in chosen.group(0)
    assert "journey-loading" in page.text  # the report loads after the page
    result = _htmx(console, _result_url(page.text))
    api = console.get(
        "/api/analytics/funnel",
        params={"step": STEPS, "window": "30d"},
        headers=token(engine, "analyst"),
    ).json()
    assert _step_counts(result) == [s["count"] for s in api["steps"]] == [3, 2, 1]
    text = _text(result)
    assert "33.3%" in text  # conversion, first step to last
    assert "Conversion per channel" in text
    # Drop-offs link to the people who dropped, in the table and on the chart's points.
    dropped = re.findall(r'href="(/console/journeys/funnel/dropped\?[^"]+)"', result)
    assert len(dropped) == 2
    assert '"url":"/console/journeys/funnel/dropped?' in result
    # Opened without htmx the report is a page of its own.
    alone = console.get(_result_url(page.text))
    assert "<html" in alone.text and _step_counts(alone.text) == [3, 2, 1]


def test_a_step_filter_and_the_ordering_reach_the_funnel(console: TestClient, shop: Shop) -> None:
    sign_in(console, "marketer")
    pairs = [("step", "Product Viewed"), ("filter", "channel=web")]
    pairs += [("step", "Product Added"), ("filter", "")]
    pairs += [("window", "2"), ("unit", "days"), ("ordering", "strict"), ("breakdown", "")]
    page = console.get(f"/console/journeys/funnel?{urlencode(pairs)}")
    assert page.status_code == 200
    assert 'value="channel=web"' in page.text
    assert '<option value="strict" selected>' in page.text
    result = _htmx(console, _result_url(page.text))
    assert _step_counts(result) == [2, 1]  # Ada and Cy viewed on the web; Ada added
    assert "Conversion per" not in result  # no breakdown asked


@pytest.mark.parametrize(
    ("role", "masked"), [("analyst", True), ("marketer", False), ("admin", False)]
)
def test_the_people_who_dropped_are_listed_masked_for_analysts(
    console: TestClient, shop: Shop, role: str, masked: bool
) -> None:
    sign_in(console, role)
    ada = shop.profile_id("user_id", "ada")
    cy = shop.profile_id("user_id", "cy")
    bob = shop.profile_id("user_id", "bob")
    step2 = _htmx(console, f"/console/journeys/funnel/dropped?{_funnel_query(dropped='2')}")
    assert f'href="/console/customers/{cy}"' in step2
    assert ada not in step2 and bob not in step2
    assert "1 person dropped at step 2." in _text(step2)
    if masked:
        assert "cy.young@example.com" not in step2 and "Cy Young" not in step2
        assert "c•••@e•••.com" in step2
    else:
        assert "cy.young@example.com" in step2 and "Cy Young" in step2
    step3 = _htmx(console, f"/console/journeys/funnel/dropped?{_funnel_query(dropped='3')}")
    assert f'href="/console/customers/{bob}"' in step3 and cy not in step3
    assert ("Bob Moses" in step3) is not masked


def test_the_people_who_dropped_download_as_csv(console: TestClient, shop: Shop) -> None:
    sign_in(console, "analyst")
    answer = console.get(f"/console/journeys/funnel/dropped.csv?{_funnel_query(dropped='3')}")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    bob = shop.profile_id("user_id", "bob")
    assert [r["profile_id"] for r in rows] == [bob]
    assert rows[0]["reached_at"].startswith("2026-01-04")
    assert rows[0]["profile_url"] == f"/console/customers/{bob}"


def _refusal(console: TestClient, url: str) -> tuple[str, str]:
    """A report the console refuses (422): the text of its error notice, and the page."""
    answer = console.get(url)
    assert answer.status_code == 422, url
    errors = re.search(r'<div class="notice error".*?</div>', answer.text, re.S)
    assert errors, answer.text[:2000]
    return _text(errors.group(0)), answer.text


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        (_funnel_query(["Product Viewed", "Product Teleported"]), "Step 2", "Product Teleported"),
        (_funnel_query(["Product Viewed"]), "Steps", "at least 2 steps"),
        (_funnel_query(window="0"), "Conversion window", "longer than zero"),
        (_funnel_query(window="-3"), "Conversion window", "longer than zero"),
        (_funnel_query(window="soon"), "Conversion window", "is not a number"),
        (_funnel_query(start="2026-13-01"), "From", "is not a date"),
        (_funnel_query(start="2026-02-01", end="2026-01-01"), "To", "ends before it starts"),
        (
            urlencode(
                [("step", "Product Viewed"), ("filter", "channel"), ("step", "Product Added")]
            ),
            "Filter of step 1",
            "cannot be read",
        ),
        (_funnel_query(ordering="sideways"), "Order of the steps", "not one of the choices"),
        (_funnel_query(breakdown="trait"), "Trait or property name", "needed"),
    ],
)
def test_a_funnel_that_cannot_be_computed_answers_422_naming_the_field(
    console: TestClient, shop: Shop, query: str, field: str, words: str
) -> None:
    sign_in(console, "analyst")
    for url in (f"/console/journeys/funnel?{query}", f"/console/journeys/funnel/result?{query}"):
        shown, page = _refusal(console, url)
        assert field in shown and words in shown, url
        assert "hx-get" not in page.split("</form>")[-1]  # nothing computed


@pytest.mark.parametrize(
    ("language", "reason", "english"),
    [
        (
            "nl",
            "kan niet filteren op 'colour': gebruik channel, source, type, event, "
            "properties.NAAM of traits.NAAM",
            "cannot filter on",
        ),
        (
            "tr",
            "'colour' alanına göre filtrelenemez: channel, source, type, event, properties.AD "
            "veya traits.AD kullanın",
            "cannot filter on",
        ),
        # Right to left: the filter as typed is isolated from the sentence.
        ("fa", "فیلتر بر اساس \u2068'colour'\u2069 ممکن نیست", "cannot filter on"),
    ],
)
def test_why_a_filter_cannot_be_read_is_said_in_the_readers_language(
    console: TestClient, shop: Shop, language: str, reason: str, english: str
) -> None:
    sign_in(console, "analyst", language=language)
    query = urlencode(
        [("step", "Product Viewed"), ("filter", "colour=red"), ("step", "Product Added")]
    )
    shown, page = _refusal(console, f"/console/journeys/funnel/result?{query}")
    assert reason in shown, shown
    assert english not in shown and '<span class="detail" lang="en">' not in page


@pytest.mark.parametrize(
    ("role", "language", "url", "said", "not_said"),
    [
        # A window the form accepts (more than zero) that is zero once in microseconds: the
        # funnel engine refuses it, and the reader is told so in Turkish.
        (
            "analyst",
            "tr",
            "/console/journeys/funnel/result?"
            + _funnel_query(window="0.000000001", unit="minutes"),
            "Bu değer kullanılamaz. (dönüşüm aralığı sıfırdan uzun olmalıdır; 0:00:00 verildi)",
            "conversion window must be longer",
        ),
        (
            "marketer",
            "lv",
            "/console/journeys/attribution/result?conversion=Order+Completed&half_life_days=1e-12",
            "pussabrukšanas periodam jābūt pozitīvam, nevis 0:00:00",
            "half-life must be positive",
        ),
    ],
    ids=["funnel", "attribution"],
)
def test_a_report_the_analytics_refuse_says_why_in_the_readers_language(
    console: TestClient, shop: Shop, role: str, language: str, url: str, said: str, not_said: str
) -> None:
    sign_in(console, role, language=language)
    shown, _ = _refusal(console, url)
    assert said in shown, shown
    assert not_said not in shown


@pytest.mark.parametrize(
    ("tab", "query", "field"),
    [
        ("paths", "by=event&direction=from&step=Teleported", "Step (a channel or an event)"),
        ("paths", "depth=0", "Steps per path"),
        ("retention", "period=fortnight", "Period"),
        ("retention", "return_event=Teleported", "Return event"),
        ("stages", "end=yesterday", "To"),
        ("channels", "conversion_event=Teleported", "Conversion event"),
        ("attribution", "lookback_days=0", "Lookback (days)"),
        ("value", "order_event=Teleported", "Order event"),
    ],
)
def test_other_tabs_answer_422_naming_the_field(
    console: TestClient, shop: Shop, tab: str, query: str, field: str
) -> None:
    sign_in(console, "marketer")
    for url in (f"/console/journeys/{tab}?{query}", f"/console/journeys/{tab}/result?{query}"):
        shown, _ = _refusal(console, url)
        assert field.split(" (")[0] in shown, (url, shown)


def test_every_tab_loads_its_report_after_the_page(console: TestClient, shop: Shop) -> None:
    sign_in(console, "analyst")
    reports = {}
    for tab in TABS:
        query = _funnel_query() if tab == "funnel" else ""
        page = console.get(f"/console/journeys/{tab}?{query}")
        assert page.status_code == 200
        assert 'aria-current="page"' in page.text
        assert "Computing the report" in page.text
        reports[tab] = _htmx(console, _result_url(page.text))
        assert reports[tab].lstrip().startswith('<div class="journey-result">')
        assert 'class="chart"' in reports[tab], tab
    paths = _text(reports["paths"])
    assert "Web → iOS app → Store" in paths  # Ada's path, channel by channel
    assert "Channel-to-channel transitions" in paths
    retention = _text(reports["retention"])
    assert "Lifecycle" in retention and "Churn points" in retention
    assert "Retention" in retention
    assert "People per stage" in _text(reports["stages"])
    channels = _text(reports["channels"])
    assert "Store" in channels and "Conversion rate" in channels
    attribution = _text(reports["attribution"])
    for model in ("First touch", "Last touch", "Linear", "Time decay", "Position based"):
        assert model in attribution
    assert "Markov chain" in attribution
    value = _text(reports["value"])
    assert "Multichannel customers" in value and "By channels used" in value


def test_paths_from_a_chosen_step_and_by_event(console: TestClient, shop: Shop) -> None:
    sign_in(console, "marketer")
    query = urlencode({"by": "event", "direction": "to", "step": "Order Completed"})
    page = console.get(f"/console/journeys/paths?{query}")
    assert page.status_code == 200
    result = _text(_htmx(console, _result_url(page.text)))
    assert "Product Viewed → Product Added → Order Completed" in result
    assert "Event-to-event transitions" in result


def test_attribution_credits_the_conversion_to_the_channels(
    console: TestClient, shop: Shop
) -> None:
    sign_in(console, "analyst")
    result = _htmx(console, "/console/journeys/attribution/result?conversion=Order+Completed")
    rows = re.search(r'<table class="attribution">.*?</table>', result, re.S)
    assert rows
    table = _text(rows.group(0))
    # Ada's one order: first touch on the web, last touch in the app (or the store).
    assert "Web" in table and "iOS app" in table
    assert " 1 Conversions " in _text(result)


def test_before_any_event_every_tab_says_there_is_nothing_yet(console: TestClient) -> None:
    forget()
    sign_in(console, "analyst")
    for tab in TABS:
        page = console.get(f"/console/journeys/{tab}")
        assert page.status_code == 200, tab
        assert "The event lake holds no events yet" in page.text
        if tab == "funnel":
            continue
        report = _htmx(console, _result_url(page.text))
        assert 'class="notice"' in report, tab


def test_while_the_names_are_being_counted_the_page_does_not_wait(
    console: TestClient, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    forget()
    monkeypatch.setattr(journeys_common, "SHELL_WAIT_ROWS", 0)
    monkeypatch.setattr(event_catalog, "_count_in_background", lambda files: None)
    sign_in(console, "analyst")
    query = _funnel_query(["Product Viewed", "Product Teleported"])
    page = console.get(f"/console/journeys/funnel?{query}")
    assert page.status_code == 200  # not known yet, not refused yet
    assert "still being counted" in page.text
    report = console.get(_result_url(page.text), headers={"HX-Request": "true"})
    assert report.status_code == 422  # the report counts every name, then refuses
    assert "Product Teleported" in _text(report.text)
    page = console.get(f"/console/journeys/funnel?{query}")
    assert page.status_code == 422 and "still being counted" not in page.text


def test_a_report_is_kept_says_when_it_was_computed_and_computes_again_on_demand(
    console: TestClient, shop: Shop
) -> None:
    sign_in(console, "analyst")
    url = f"/console/journeys/funnel/result?{_funnel_query()}"
    first = _htmx(console, url)
    assert _step_counts(first) == [3, 2, 1]
    assert "Computed at" in _text(first)
    # Cy adds to the cart and buys: the lake changes, but a report asked for again within
    # REPORT_SECONDS is the kept one (a report over a large lake takes seconds)...
    shop.send(
        "web",
        track("Product Added", "cy", {"product_id": "P2"}, days=2.5),
        track("Order Completed", "cy", {"order_id": "R2", "total": 10.0}, days=2.6),
    )
    assert _step_counts(_htmx(console, url)) == [3, 2, 1]
    # ...until the reader asks for it as of now, which is then kept for the others.
    fresh = re.search(r'href="([^"]+fresh=1[^"]*)"', first)
    assert fresh, "the report offers no way to compute it now"
    assert _step_counts(_htmx(console, unescape(fresh.group(1)))) == [3, 3, 2]
    assert _step_counts(_htmx(console, url)) == [3, 3, 2]
