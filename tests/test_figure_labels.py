"""
Issue 26 §3: each figure's label says what the number is — the day a Kaplan–Meier estimate is read
at, the one figure to quote, the denominator of every other share, adjusted intervals that agree
with their verdicts — in the same words on the page, in the REST API and in the CSV exports.
"""
import csv
import io
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from activation_plugin import api
from activation_plugin.figures.comparisons import runs_from_cells
from tests.conftest import NOW, api_url
from tests.figures_data import CLOSED_AT, add_evidence, make_windows

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, course_staff):
    client.force_login(course_staff)
    return client


def page(client, course_key, definition):
    response = client.get(reverse("activation_plugin:definition",
                                  kwargs={"course_id": str(course_key), "definition_id": definition.pk}))
    assert response.status_code == 200
    return BeautifulSoup(response.content, "html.parser")


def text(element):
    return element.get_text(" ", strip=True)


def exported_figures(client, course_key, definition):
    response = client.get(reverse("activation_plugin:export_figures",
                                  kwargs={"course_id": str(course_key), "definition_id": definition.pk}))
    rows = csv.reader(io.StringIO(b"".join(response.streaming_content).decode()))
    return {(figure, group): value for figure, group, value in rows}


def ten_days_into_a_45_day_window(make_definition, now):
    """The issue's case: 20 windows opened 10 days ago, 8 activated on day 2."""
    definition = make_definition(window_days=45)
    opened = now - timedelta(days=10, hours=1)
    make_windows(definition, 8, state="activated", days=2, opened_at=opened)
    make_windows(definition, 12, state="open", opened_at=opened)
    return definition


def test_kaplan_meier_is_read_at_the_longest_follow_up_not_beyond(make_definition):
    from lifelines import KaplanMeierFitter  # pylint: disable=import-outside-toplevel
    definition = ten_days_into_a_45_day_window(make_definition, NOW)
    # Staff of the run: anyone else gets the curve without the running windows (issue 27).
    summary = api.summarize(definition, now=NOW, visible_runs=[definition.course_key])
    fitter = KaplanMeierFitter().fit([2] * 8 + [10] * 12, [1] * 8 + [0] * 12)
    # lifelines' estimate ends at the last time anyone was observed; past it, it only repeats the last value.
    assert summary["km_day"] == fitter.timeline.max() == 10
    assert summary["km_rate"] == pytest.approx(1 - fitter.predict(10)) == pytest.approx(0.4)
    assert summary["quote"] == "km_rate"


def test_kaplan_meier_is_read_at_the_window_s_end_once_someone_was_followed_that_long(make_definition):
    definition = ten_days_into_a_45_day_window(make_definition, NOW)
    make_windows(definition, 6, state="expired", opened_at=NOW - timedelta(days=60))
    # Staff of the run: the curve's 6 censored at day 45 tell 0 of 6 to anyone else (issue 27).
    assert api.summarize(definition, now=NOW, visible_runs=[definition.course_key])["km_day"] == 45
    assert api.summarize(definition, now=NOW)["km_day"] is None


def test_the_page_the_rest_api_and_the_export_say_by_which_day(staff_client, jwt_staff_client, course_key,
                                                               make_definition):
    definition = ten_days_into_a_45_day_window(make_definition, timezone.now())
    html = page(staff_client, course_key, definition)
    for part in (html.select_one(".activation-scorecard"), html.select_one(".activation-summary")):
        assert "by day 10 (the longest anyone has been followed)" in text(part)
        assert "45 days" not in text(part) and "day 45" not in text(part)
    summary = jwt_staff_client.get(api_url("definition_summary", course_id=course_key,
                                           definition_id=definition.pk)).json()["figures"]
    assert (summary["km_day"], summary["km_rate"]) == (10, pytest.approx(0.4))
    exported = exported_figures(staff_client, course_key, definition)
    assert exported[("summary.km_day", "")] == "10"


def test_one_figure_to_quote_the_others_smaller_and_named_by_what_they_count(staff_client, course_key,
                                                                             make_definition):
    """The issue: the rate and Kaplan–Meier were two green numbers of one size, and four "activation" shares."""
    definition = make_definition(window_days=30, holdout_percent=20)
    make_windows(definition, 20, state="activated")
    make_windows(definition, 60)
    make_windows(definition, 8, state="activated", days=1, opened_at=timezone.now() - timedelta(days=5))
    make_windows(definition, 12, state="open", opened_at=timezone.now() - timedelta(days=5))
    html = page(staff_client, course_key, definition)
    headline = html.select_one(".activation-summary .activation-headline")
    [quoted] = headline.select(".activation-quoted")
    assert quoted.select_one(".activation-figure")["data-figure"] == "rate" == headline["data-quote"]
    [other] = headline.select(".activation-other")
    assert other.select_one(".activation-figure")["data-figure"] == "km_rate"
    assert "windows still running" in text(other.select_one("[data-reason]"))
    # Every other share says what it is a share of.
    assert "whose window has ended" in text(html.select_one(".activation-strength caption"))
    assert "windows still running included" in text(html.select_one("[data-denominator=funnel]"))
    for table in html.select("[data-table=runs], [data-table=arms]"):
        assert "activated ÷ window ended" in text(table.select("thead th")[-1])


def run_cells(rates):
    """One cell per run of ``(activated, ended)``, runs opened one day apart in the order given."""
    return [{"course_run": f"course-v1:TestX+APPLY+{2030 + index}", "arm": "prompted", "enrollment_mode": "",
             "org": "", "cohort": "", "completers": ended, "activated": activated, "open": 0,
             "first_opened": NOW + timedelta(days=index)}
            for index, (activated, ended) in enumerate(rates)]


def test_three_runs_the_interval_beside_the_number_agrees_with_the_verdict():
    """The issue: "+15.0 points (95 % interval +1.2 to +28.0; p = 0.033) … Holm p = 0.067. No evidence"."""
    from statsmodels.stats.multitest import multipletests  # pylint: disable=import-outside-toplevel
    from statsmodels.stats.proportion import confint_proportions_2indep  # pylint: disable=import-outside-toplevel
    differences = runs_from_cells(run_cells([(40, 100), (55, 100), (41, 100)]))["differences"]
    assert round(differences[0]["p_value"], 3) == 0.033
    assert [row["p_adjusted"] for row in differences] == pytest.approx(
        list(multipletests([row["p_value"] for row in differences], method="bonferroni")[1]))
    for row, (other, ended) in zip(differences, [(55, 100), (41, 100)]):
        # Two comparisons with the first run: each interval at 1 - 0.05 / 2, as Bonferroni's verdict.
        assert (row["confidence"], row["family"]) == (0.975, 2)
        assert row["ci"] == pytest.approx(confint_proportions_2indep(
            other, ended, 40, 100, method="newcomb", compare="diff", alpha=0.025), abs=1e-9)
        assert row["ci"][0] < 0 < row["ci"][1] and row["verdict"] == "no_evidence"


def test_the_page_shows_the_adjusted_interval_beside_the_verdict(staff_client, course_key, make_definition):
    definition = make_definition()
    for index, (activated, ended) in enumerate([(40, 100), (55, 100), (41, 100)]):
        run = f"course-v1:TestX+APPLY+{2030 + index}"
        make_windows(definition, activated, state="activated", course_run=run, opened_at=CLOSED_AT + timedelta(index))
        make_windows(definition, ended - activated, course_run=run, opened_at=CLOSED_AT + timedelta(index))
    readings = [text(p) for p in page(staff_client, course_key, definition).select("[data-figure=difference]")]
    assert readings[0].startswith(
        "2031 vs 2030: +15.0 points (97.5% interval, adjusted for 2 comparisons with the same first run: "
        "-0.8 points to +29.8 points; p = 0.067 after the same adjustment). No evidence of a difference")
    assert "p = 0.033" not in readings[0] and "95% interval" not in readings[0]


def family_of_runs():
    rate = st.integers(10, 150).flatmap(lambda ended: st.tuples(st.integers(5, ended - 5), st.just(ended)))
    return st.lists(rate, min_size=2, max_size=6)


@settings(max_examples=300, deadline=None)
@given(family_of_runs())
def test_an_adjusted_interval_excludes_zero_exactly_when_its_verdict_says_a_difference(rates):
    from statsmodels.stats.multitest import multipletests  # pylint: disable=import-outside-toplevel
    differences = runs_from_cells(run_cells(rates))["differences"]
    expected = multipletests([row["p_value"] for row in differences], method="bonferroni")[1]
    for row, adjusted in zip(differences, expected, strict=True):
        assert row["p_adjusted"] == pytest.approx(adjusted)
        assert row["verdict"] == ("no_evidence" if row["ci"][0] <= 0 <= row["ci"][1]
                                  else "higher" if row["ci"][0] > 0 else "lower")
        assert row["ci"][0] <= row["difference"] <= row["ci"][1]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 8).flatmap(lambda ended: st.tuples(st.integers(0, ended), st.just(ended))),
                min_size=3, max_size=3))
def test_small_groups_exact_intervals_agree_with_their_adjusted_verdict_too(rates):
    with override_settings(ACTIVATION_MIN_CELL_SIZE=1):
        differences = runs_from_cells(run_cells([(activated, ended + 1) for activated, ended in rates]))["differences"]
    for row in differences:
        assert (row["verdict"] != "no_evidence") == (row["ci"][0] > 0 or row["ci"][1] < 0)


def answers_and_holdout(make_definition, now):
    """
    Prompted arm: 20 windows ended (8 activated, 4 answered without activating, 8 silent) and 10
    running, silent so far; holdout: 12 ended (6 activated, 6 silent).
    """
    definition = make_definition(holdout_percent=30)
    add_evidence(make_windows(definition, 8, state="activated"))
    add_evidence(make_windows(definition, 4), status="submitted")
    make_windows(definition, 8)
    make_windows(definition, 10, state="open", opened_at=now - timedelta(days=3))
    add_evidence(make_windows(definition, 6, state="activated", arm="holdout"))
    make_windows(definition, 6, arm="holdout")
    return definition


def test_the_response_rate_counts_only_windows_that_ended(make_definition):
    """The issue: 36.4 % shown where the ended-window figure is 46 %; here 12 of 20, not 12 of 30."""
    quality = api.data_quality(answers_and_holdout(make_definition, NOW), now=NOW)
    assert (quality["prompted"], quality["responded"], quality["response_rate"]) == (20, 12, 0.6)


def test_the_non_response_bounds_are_those_of_the_headline_rate(make_definition):
    """The issue: the bounds were the prompted arm's (8 of 20 here) beside a headline with the holdout (14 of 32)."""
    definition = answers_and_holdout(make_definition, NOW)
    summary, bounds = api.summarize(definition, now=NOW), api.data_quality(definition, now=NOW)["non_response"]
    assert (bounds["eligible"], bounds["responders"], bounds["non_responders"]) == (32, 18, 14)
    assert bounds["rate_if_none"] == summary["rate"] == 14 / 32
    assert bounds["rate_if_all"] == (14 + 14) / 32


def test_the_page_names_the_population_of_the_response_rate_and_of_the_bounds(staff_client, course_key,
                                                                              make_definition):
    html = page(staff_client, course_key, answers_and_holdout(make_definition, timezone.now()))
    [response] = [div for div in html.select(".activation-counts div") if div.select_one("[data-figure=response_rate]")]
    assert text(response) == "Response rate (prompted arm, windows ended) 60.0 %"
    reading = text(html.select_one("[data-figure=non_response]"))
    assert reading.startswith("14 of 32 completers whose window has ended (both arms, as in the activation rate) "
                              "submitted nothing.")
    assert "The activation rate (43.8 %) assumes none of them applied it" in reading


def test_the_curve_s_table_shows_the_events_and_censored_counts_the_export_has(staff_client, course_key,
                                                                               make_definition):
    definition = ten_days_into_a_45_day_window(make_definition, timezone.now())
    make_windows(definition, 6, state="expired", opened_at=timezone.now() - timedelta(days=60))
    table = page(staff_client, course_key, definition).select_one("[data-table=km]")
    headers = [text(th) for th in table.select("thead th")]
    rows = [dict(zip(headers, (text(td) for td in tr.select("td")))) for tr in table.select("tbody tr")]
    exported = exported_figures(staff_client, course_key, definition)
    assert [(row["Day"], row["Activated that day"], row["Censored that day"]) for row in rows] == [
        (day, exported[("summary.km_curve.events", f"day={day}")],
         exported[("summary.km_curve.censored", f"day={day}")])
        for day in ("2", "10", "45")] == [("2", "8", "0"), ("10", "0", "12"), ("45", "0", "6")]
