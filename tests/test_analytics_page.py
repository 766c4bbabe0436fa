"""The Activation page of a definition: every figure on it, suppression, ROI, and a fixed query count."""
import json
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from opaque_keys.edx.keys import CourseKey

from demo.models import DemoCourse
from tests.conftest import PROJECT
from tests.figures_data import CLOSED_AT, add_evidence, make_windows, observe

pytestmark = pytest.mark.django_db
METRIC = {"kind": "metric", "title": "Handle time",
          "config": {"metric": "handle_time", "threshold": -0.1, "direction": "lower", "relative": True}}


@pytest.fixture
def staff_client(client, course_staff):
    client.force_login(course_staff)
    return client


def page_url(course_key, definition):
    return reverse("activation_plugin:definition",
                   kwargs={"course_id": str(course_key), "definition_id": definition.pk})


def two_runs(definition, course_key, size=1):
    """Run 1: 18 of 100 activated; run 2 (later): 29 of 100, as in the issue's example."""
    later = CourseKey.from_string("course-v1:TestX+APPLY+2027")
    DemoCourse.objects.get_or_create(course_key=later, defaults={"display_name": "Later run"})
    add_evidence(make_windows(definition, 18 * size, state="activated", enrollment_mode="verified"))
    make_windows(definition, 82 * size, enrollment_mode="audit")
    add_evidence(make_windows(definition, 29 * size, state="activated", course_run=later,
                              opened_at=CLOSED_AT + timedelta(days=1), enrollment_mode="verified"))
    make_windows(definition, 71 * size, course_run=later, opened_at=CLOSED_AT + timedelta(days=1),
                 enrollment_mode="audit", cohort="B")
    return later


def test_runs_compared_with_interval_and_p_value(staff_client, course_key, make_definition):
    definition = make_definition()
    later = two_runs(definition, course_key)
    html = BeautifulSoup(staff_client.get(page_url(course_key, definition)).content, "html.parser")
    runs = html.select("[data-table=runs] tbody tr")
    assert [row["data-row"] for row in runs] == [str(course_key), str(later)]
    assert [row.select_one("[data-cell=rate]").get_text(" ", strip=True) for row in runs] == [
        "18.0 % (11.7 % – 26.7 %)", "29.0 % (21.0 % – 38.5 %)"]
    [reading] = [p.get_text(" ", strip=True) for p in html.select("[data-figure=difference]")]
    assert reading.startswith("2027 vs 2026: +11.0 points (95% interval")
    assert "p = 0.06" in reading and "could be chance" in reading


def test_every_chart_points_to_the_table_with_its_numbers(staff_client, course_key, make_definition):
    """WCAG 1.1.1: a chart is an image; its text alternative is the table beside it, linked."""
    definition = make_definition()
    two_runs(definition, course_key)
    html = BeautifulSoup(staff_client.get(page_url(course_key, definition)).content, "html.parser")
    charts = html.select("canvas[data-chart]")
    assert {chart["data-chart"] for chart in charts} == {"funnel", "km"}
    for chart in charts:
        target = html.find(id=chart["aria-details"])
        assert target is not None and target.select("table tbody tr, tbody tr"), chart["data-chart"]
    assert html.select_one(f'a[href="#funnel-table-{definition.pk}"]')


def test_runs_and_tracks_are_named_for_people_and_keyed_for_machines(staff_client, course_key, make_definition):
    """Issue 18: the page showed runs as course keys and tracks as mode slugs; exports keep both."""
    definition = make_definition()
    later = two_runs(definition, course_key)
    html = BeautifulSoup(staff_client.get(page_url(course_key, definition)).content, "html.parser")
    run_headers = html.select("[data-table=runs] tbody th")
    assert [(th.get_text(), th["title"]) for th in run_headers] == [("2026", str(course_key)), ("2027", str(later))]
    difference = html.select_one("[data-figure=difference]")
    assert (difference["data-baseline"], difference["data-other"]) == (str(course_key), str(later))
    tracks = {row["data-row"]: row.th.get_text() for row in html.select("[data-table=segment] tbody tr")
              if row.find_parent("table").caption.get_text() == "By enrollment track"}
    assert tracks == {"audit": "Audit", "verified": "Verified"}
    assert "the latest run (2027) differs from the first (2026)" in html.select_one("[data-trend]").get_text()
    assert "course-v1:" not in html.select_one(".activation-analytics").get_text()
    export = staff_client.get(reverse("activation_plugin:export_figures",
                                      kwargs={"course_id": str(course_key), "definition_id": definition.pk}))
    exported = b"".join(export.streaming_content).decode()
    assert str(later) in exported and "verified" in exported and "2027 vs" not in exported


def cohort_rows(client, course_key, definition):
    html = BeautifulSoup(client.get(page_url(course_key, definition)).content, "html.parser")
    return {row["data-row"]: row for row in html.select("[data-table=segment] tbody tr")
            if row.find_parent("table").caption.get_text() == "By cohort"}


def test_small_segments_of_runs_the_viewer_cannot_see_are_hidden(staff_client, course_key, other_run,
                                                                 make_definition, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 5
    definition = make_definition()
    make_windows(definition, 8, state="activated", cohort="A", course_run=other_run)
    make_windows(definition, 12, cohort="A", course_run=other_run)
    make_windows(definition, 3, cohort="tiny", course_run=other_run)
    make_windows(definition, 6, cohort="C", course_run=other_run)
    rows = cohort_rows(staff_client, course_key, definition)
    # One group hidden hides the dimension: another breakdown of the same learners, or the total, would
    # give back a lone hidden group, or two complementary ones (issue 27).
    assert {row.get("data-suppressed") for row in rows.values()} == {"true"}


def test_staff_of_the_only_run_see_every_segment(staff_client, course_key, make_definition, settings):
    """They download every learner's window: hiding the tiny cohort's 0 of 3 from them protects nobody."""
    settings.ACTIVATION_MIN_CELL_SIZE = 5
    definition = make_definition()
    make_windows(definition, 8, state="activated", cohort="A")
    make_windows(definition, 12, cohort="A")
    make_windows(definition, 3, cohort="tiny")
    rows = cohort_rows(staff_client, course_key, definition)
    assert not any(row.get("data-suppressed") for row in rows.values())
    assert rows["tiny"].select_one("[data-cell=rate]").get_text().startswith("0.0")


def test_a_course_below_the_minimum_shows_no_figures(staff_client, course_key, other_run, make_definition):
    definition = make_definition()
    add_evidence(make_windows(definition, 2, state="activated", course_run=other_run))
    html = staff_client.get(page_url(course_key, definition)).content.decode()
    assert "Fewer than 5 completers so far" in html
    assert BeautifulSoup(html, "html.parser").select_one("[data-figure=rate]").get_text() == "—"


def test_kpi_deltas_and_roi(staff_client, course_key, make_definition):
    definition = make_definition(requirements=[PROJECT, METRIC])
    activated = make_windows(definition, 6, state="activated")
    add_evidence(activated)
    others = make_windows(definition, 6)
    for index, window in enumerate(activated + others):
        drop = 2.0 if window in activated else 0.5
        observe(window.user, "handle_time", window.opened_at - timedelta(days=5), 10.0 + index % 2)
        observe(window.user, "handle_time", window.opened_at + timedelta(days=5), 10.0 + index % 2 - drop)
    url = page_url(course_key, definition)
    html = BeautifulSoup(staff_client.get(url, {"value_per_activation": "1000", "programme_cost": "2000"}).content,
                         "html.parser")
    table = html.select_one("[data-table=kpi][data-metric=handle_time]")
    assert [cell.get_text() for cell in table.select("tbody tr")[0].select("td")] == ["6", "10.5", "8.5", "-2.00"]
    assert html.select_one("[data-figure=kpi-difference]").get_text(" ", strip=True).startswith(
        "Activated learners' change differs by -1.50")
    roi = html.select_one("[data-figure=roi]").get_text(" ", strip=True)
    # No holdout: all 6 activations are credited to the course (an upper bound), (1000 × 6 − 2000) / 2000 = 200 %.
    assert roi.startswith("ROI of the course 200.0 % (95% interval")
    follow_up = BeautifulSoup(staff_client.get(url, {"value_per_activation": "1000", "programme_cost": "2000",
                                                     "roi_of": "follow_up"}).content, "html.parser")
    assert follow_up.select_one("[data-figure=roi]").get_text(" ", strip=True).startswith(
        "No holdout: the follow-up's own effect is not measured")
    assert follow_up.select_one("select[name=roi_of] option[selected]")["value"] == "follow_up"
    error = staff_client.get(url, {"value_per_activation": "1000", "programme_cost": "0"}).content.decode()
    assert "The programme cost must be more than zero." in error


def test_charts_get_their_data_as_json_not_as_markup(staff_client, course_key, make_definition):
    definition = make_definition()
    add_evidence(make_windows(definition, 5, state="activated", days=4))
    make_windows(definition, 5)
    html = BeautifulSoup(staff_client.get(page_url(course_key, definition)).content, "html.parser")
    km = json.loads(html.select_one(f"#chart-km-{definition.pk}").string)
    assert km["window_days"] == 30 and km["points"][0] == {"day": 0, "rate": 0.0, "low": 0.0, "high": 0.0}
    assert [round(point["rate"], 3) for point in km["points"][1:]] == [0.5, 0.5]
    funnel = json.loads(html.select_one(f"#chart-funnel-{definition.pk}").string)
    assert funnel["stages"][0] == "Completed" and funnel["arms"][0]["counts"][0] == 10
    assert html.select_one("canvas[data-chart=km]")["aria-label"]


def test_the_page_costs_the_same_queries_at_any_size(staff_client, course_key, make_definition):
    definition = make_definition(requirements=[PROJECT, METRIC], holdout_percent=10)
    url = page_url(course_key, definition)

    def queries():
        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(url).status_code == 200
        return len(captured)

    two_runs(definition, course_key)
    make_windows(definition, 5, arm="holdout")
    small = queries()
    two_runs(definition, course_key, size=5)
    make_windows(definition, 50, arm="holdout")
    assert queries() == small


def test_export_links_belong_to_the_definition(staff_client, course_key, make_definition):
    definition = make_definition()
    make_windows(definition, 6)
    html = BeautifulSoup(staff_client.get(page_url(course_key, definition)).content, "html.parser")
    links = [a["href"] for a in html.select(".activation-exports a")]
    assert links == [f"/activation/courses/{course_key}/definitions/{definition.pk}/{name}"
                     for name in ("windows.csv", "evidence.csv", "figures.csv", "success-cases/")]


def test_a_large_definition_page_says_its_figures_are_being_refreshed(
        staff_client, course_key, make_definition, settings):
    settings.ACTIVATION_FIGURES_SYNC_SECONDS = -1  # as if computing took longer than allowed
    definition = make_definition()
    make_windows(definition, 10)
    assert 'data-stale="true"' not in staff_client.get(page_url(course_key, definition)).content.decode()
    add_evidence(make_windows(definition, 5, state="activated"))
    from activation_plugin import figures  # pylint: disable=import-outside-toplevel
    figures.invalidate(definition.pk)
    stale = staff_client.get(page_url(course_key, definition)).content.decode()
    assert 'data-stale="true"' in stale and "Fresher ones are being computed" in stale
    # The demo runs celery eagerly, so the refresh has already run: the next view is fresh.
    fresh = BeautifulSoup(staff_client.get(page_url(course_key, definition)).content, "html.parser")
    assert not fresh.select("[data-stale]") and fresh.select_one("[data-figure=activated]").get_text() == "5"


def test_a_definition_without_completers_shows_no_empty_charts_or_downloads(staff_client, course_key, make_definition):
    """Issue 18: a new definition showed empty charts, a median sentence about 0 completers, CSVs of nothing."""
    definition = make_definition()
    html = BeautifulSoup(staff_client.get(page_url(course_key, definition)).content, "html.parser")
    assert html.select_one("[data-empty=figures]") is not None
    assert not html.select("canvas") and not html.select(".activation-exports a")
    assert html.select_one("#plan") is not None  # planning the comparison is for before the data


def test_the_page_opens_on_a_verdict_at_a_glance(staff_client, course_key, other_run, make_definition):
    """Issue 18: the figure to quote with its interval, how the latest run compares, and what to do next."""
    definition = make_definition(requirements=[{**PROJECT, "verification": "staff"}])
    make_windows(definition, 6, state="activated", course_run=other_run, opened_at=CLOSED_AT - timedelta(days=50))
    make_windows(definition, 34, state="expired", course_run=other_run, opened_at=CLOSED_AT - timedelta(days=50))
    make_windows(definition, 20, state="activated")
    waiting = make_windows(definition, 20, state="expired")
    add_evidence(waiting[:2], status="submitted")
    html = BeautifulSoup(staff_client.get(page_url(course_key, definition)).content, "html.parser")
    card = html.select_one(".activation-scorecard")
    assert card["data-quote"] == "rate" and "32.5 %" in card.get_text()  # 26 of 80 ended windows
    assert card.select_one("[data-trend=higher]") is not None
    assert [item["data-advice"] for item in card.select("[data-advice]")][0] == "review"


def test_the_page_says_what_each_comparison_isolates(staff_client, course_key, make_definition):
    """
    Issue 26 §2: prompted vs holdout is the follow-up's effect; the course's is read against
    untrained colleagues, observational, with the baselines; the ROI says whose return it is and
    calls a range of amounts a worst case, not a 95 % interval.
    """
    definition = make_definition(requirements=[PROJECT, METRIC], holdout_percent=20)
    prompted = make_windows(definition, 6, state="activated")
    holdout = make_windows(definition, 6, arm="holdout")
    for index, window in enumerate(prompted + holdout):
        observe(window.user, "handle_time", window.opened_at - timedelta(days=5), 10.0 + index % 3)
        observe(window.user, "handle_time", window.opened_at + timedelta(days=5), 8.0 + index % 3 - 0.2 * (index % 2))
    for number in range(6):  # colleagues who never took the course: a change of -0.6 on average
        observe(None, "handle_time", CLOSED_AT - timedelta(days=5), 10.0 + number % 2, external_id=f"EMP-{number}")
        observe(None, "handle_time", CLOSED_AT + timedelta(days=5), 9.5 + number % 2 - 0.1 * (number % 3),
                external_id=f"EMP-{number}")
    url = page_url(course_key, definition)
    html = BeautifulSoup(staff_client.get(url, {"value_per_activation": "100", "value_per_activation_high": "200",
                                                "programme_cost": "1000", "programme_cost_high": "2000"}).content,
                         "html.parser")
    assert "effect of the follow-up" in html.select_one("[data-figure=did]").get_text(" ", strip=True)
    assert "Effect of the follow-up" in html.get_text(" ", strip=True)
    course = html.select_one("[data-table=course-effect][data-metric=handle_time]")
    rows = [[cell.get_text() for cell in row.select("td")] for row in course.select("tbody tr")]
    assert rows[0][:2] == ["12", "11.0"] and rows[1][:2] == ["6", "10.5"]
    reading = html.select_one("[data-figure=course-effect]").get_text(" ", strip=True)
    assert reading.startswith("Effect of the course on handle time (observational, not randomised): -1.50")
    roi = html.select_one("[data-figure=roi]").get_text(" ", strip=True)
    assert roi.startswith("ROI of the course") and "worst case" in roi and "95%" not in roi
