"""
The landing page and the legacy dashboard section (issue 32): a definition's headline pools every
run of the course; they say so, and show the latest run against the previous one.
"""
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse
from django.utils import translation
from statsmodels.stats.proportion import confint_proportions_2indep

from activation_plugin import api
from tests.conftest import NOW
from tests.figures_data import CLOSED_AT, make_windows
from tests.test_dashboard import run_legacy_filter

THIRD_RUN = "course-v1:TestX+APPLY+2028"


def run_of(definition, run, activated, expired, opened_at):
    make_windows(definition, activated, state="activated", course_run=run, opened_at=opened_at)
    make_windows(definition, expired, state="expired", course_run=run, opened_at=opened_at)


@pytest.fixture
def three_runs(make_definition, course_key, other_run):
    """First 2026 (10 of 50), then 2027 (12 of 40), then 2028 (21 of 40): the latest is 2028."""
    definition = make_definition()
    run_of(definition, course_key, 10, 40, CLOSED_AT - timedelta(days=30))
    run_of(definition, other_run, 12, 28, CLOSED_AT - timedelta(days=20))
    run_of(definition, THIRD_RUN, 21, 19, CLOSED_AT - timedelta(days=10))
    return definition


def test_the_latest_run_is_set_against_the_previous_not_the_first(three_runs, other_run):
    runs = api.latest_run_against_previous(three_runs, now=NOW)
    assert [row["course_run"] for row in runs["runs"]][1:] == [str(other_run), THIRD_RUN]
    assert (runs["previous"]["course_run"], runs["latest"]["course_run"]) == (str(other_run), THIRD_RUN)
    low, high = confint_proportions_2indep(21, 40, 12, 40, method="newcomb", compare="diff")
    difference = runs["difference"]
    assert (difference["baseline"], difference["other"], difference["family"]) == (str(other_run), THIRD_RUN, 1)
    assert difference["difference"] == pytest.approx(21 / 40 - 12 / 40)
    assert difference["ci"] == pytest.approx((low, high))


def test_one_run_has_nothing_to_compare(make_definition, course_key):
    definition = make_definition()
    run_of(definition, course_key, 10, 40, CLOSED_AT - timedelta(days=30))
    runs = api.latest_run_against_previous(definition, now=NOW)
    assert (runs["latest"]["course_run"], runs["previous"], runs["difference"]) == (str(course_key), None, None)


def card_text(html):
    card = BeautifulSoup(html, "html.parser").find("article", class_="activation-summary")
    return card, " ".join(card.get_text().split())


def assert_says_what_it_pools_and_how_the_latest_run_did(html):
    card, text = card_text(html)
    assert "All runs: these figures pool the 3 runs of the course (2026, 2027, 2028)." in text
    rows = card.find("table", attrs={"data-table": "latest_runs"}).find_all("tr", attrs={"data-row": True})
    assert [row["data-row"] for row in rows] == [THIRD_RUN, "course-v1:TestX+APPLY+2027"]
    assert "52.5 %" in rows[0].get_text() and "30.0 %" in rows[1].get_text()
    assert "2028 vs 2027: +22.5 points (95% interval" in text


def test_the_landing_page_says_what_it_pools_and_sets_the_latest_run_against_the_previous(
        client, three_runs, course_key, course_staff):
    client.force_login(course_staff)
    html = client.get(reverse("activation_plugin:instructor", kwargs={"course_id": str(course_key)})).content
    assert_says_what_it_pools_and_how_the_latest_run_did(html)


def test_the_legacy_dashboard_section_does_too(three_runs, course_key, course_staff):
    [_info, section] = run_legacy_filter(course_staff, course_key)
    assert_says_what_it_pools_and_how_the_latest_run_did(section["fragment"].content)


def test_a_single_run_says_nothing_of_pooling(client, make_definition, course_key, course_staff):
    definition = make_definition()
    run_of(definition, course_key, 10, 40, CLOSED_AT - timedelta(days=30))
    client.force_login(course_staff)
    _card, text = card_text(client.get(reverse("activation_plugin:instructor",
                                               kwargs={"course_id": str(course_key)})).content)
    assert "All runs" not in text and "Latest run" not in text


def test_the_runs_are_in_french(client, three_runs, course_key, course_staff):
    client.force_login(course_staff)
    with translation.override("fr"):
        html = client.get(reverse("activation_plugin:instructor", kwargs={"course_id": str(course_key)}),
                          HTTP_ACCEPT_LANGUAGE="fr").content
    _card, text = card_text(html)
    assert "Toutes les sessions : ces chiffres regroupent les 3 sessions du cours (2026, 2027, 2028)." in text
    assert "Dernière session face à la précédente" in text


def test_a_definition_with_figures_comes_before_a_new_empty_one(client, make_definition, course_key, course_staff):
    """A new version, active but with no completer yet, was listed first, above every figure."""
    measured = make_definition(name="Measured")
    run_of(measured, course_key, 10, 40, CLOSED_AT - timedelta(days=30))
    make_definition(name="New and empty", supersede=True)
    client.force_login(course_staff)
    page = BeautifulSoup(client.get(reverse("activation_plugin:instructor", kwargs={"course_id": str(course_key)}))
                         .content, "html.parser")
    assert [" ".join(h3.get_text().split()) for h3 in page.select("article.activation-summary h3")] == [
        "Measured", "New and empty"]
