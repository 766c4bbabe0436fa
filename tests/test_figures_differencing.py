"""
Suppression that survives differencing (issue 27): protect what the viewer cannot see row by row.

The leaks reproduced through the product, each on the figures a viewer gets; then a property test
that takes everything a staff member of one run can get (the figures as the page, the REST API and
the figures CSV serve them, and their own run's windows row by row) and tries every subtraction at
once: each released count is a linear equation on the unseen learners' counts, and a hidden group
is recovered exactly when its counts lie in the span of those equations.
"""
from datetime import timedelta
from fractions import Fraction

import pytest
from bs4 import BeautifulSoup
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from activation_plugin import api, stats
from activation_plugin.figures import headline, quality
from activation_plugin.figures.base import cells
from activation_plugin.figures.comparisons import arms_from_cells, runs_from_cells, segments_from_cells
from activation_plugin.figures.headline import FUNNEL_STAGES
from activation_plugin.figures.tallies import CELL_COUNTERS, Tallies
from activation_plugin.models import ActivationWindow
from tests.conftest import NOW, PROJECT, api_url
from tests.figures_data import CLOSED_AT, add_evidence, counted, make_windows, observe
from tests.test_analytics_page import METRIC
from tests.test_dashboard import run_legacy_filter
from tests.test_figure_labels import exported_figures, page


@pytest.fixture(autouse=True)
def cell_size(settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 5


@pytest.fixture
def staff_client(client, course_staff):
    client.force_login(course_staff)
    return client


def seen_by(user, course_key):
    return api.runs_seen_by(user, course_key)


def test_another_runs_3_of_3_is_not_the_headline_minus_ones_own_windows(
        make_definition, course_key, other_run, course_staff, staff_client):
    definition = make_definition()
    make_windows(definition, 4, state="activated")
    make_windows(definition, 16)
    make_windows(definition, 3, state="activated", course_run=other_run)
    assert seen_by(course_staff, course_key) == {str(course_key)}
    body = staff_client.get(api_url("definition_figures", course_id=course_key, definition_id=definition.pk)).json()
    summary = body["figures"]["summary"]
    # 7 of 23 minus the windows CSV's 4 of 20 would be the other run's 3 of 3; the curve's days likewise.
    assert summary["rate_suppressed"] and summary["activated"] is None and summary["eligible"] is None
    assert summary["km_suppressed"] and summary["km_curve"] == []
    runs = {run["course_run"]: run for run in body["figures"]["runs"]["runs"]}
    assert runs[str(other_run)]["suppressed"]


@pytest.mark.parametrize("staff_of_both", [False, True])
def test_page_rest_and_csv_agree_on_what_a_viewer_gets(make_definition, course_key, other_run, course_staff,
                                                       staff_client, staff_of_both):
    """Staff of 2026 get no headline from which 2027's 3 of 3 follows; staff of both runs get every figure."""
    if staff_of_both:
        Group.objects.create(name=f"activation-staff:{other_run}").user_set.add(course_staff)
    definition = make_definition()
    make_windows(definition, 5, state="activated")
    make_windows(definition, 15)
    make_windows(definition, 3, state="activated", course_run=other_run)
    expected = "8" if staff_of_both else None
    html = page(staff_client, course_key, definition)
    assert (html.select_one("[data-figure=rate]").get_text().strip() == "—") is not staff_of_both
    summary = staff_client.get(api_url("definition_summary", course_id=course_key,
                                       definition_id=definition.pk)).json()["figures"]
    assert summary["activated"] == (expected and int(expected))
    assert exported_figures(staff_client, course_key, definition)[("summary.activated", "")] == (expected or "")


def test_staff_of_a_one_run_course_see_their_4_of_20(make_definition, course_key, course_staff, staff_client):
    definition = make_definition()
    add_evidence(make_windows(definition, 4, state="activated"))
    make_windows(definition, 16)
    body = staff_client.get(api_url("definition_figures", course_id=course_key, definition_id=definition.pk)).json()
    summary = body["figures"]["summary"]
    assert (summary["activated"], summary["eligible"], summary["rate_suppressed"]) == (4, 20, False)
    assert summary["rate"] == pytest.approx(0.2)
    # Anyone who cannot see the run's rows (an org view, a task) still gets it hidden.
    assert api.summarize(definition, now=NOW)["rate_suppressed"] is True


def test_the_kpi_split_by_outcome_hides_with_another_runs_rate(make_definition, course_key, other_run):
    """Measured activated and not activated, minus one's own, would give the other run's 3 of 3 among them."""
    definition = make_definition(requirements=[PROJECT, METRIC])
    own = make_windows(definition, 10, state="activated") + make_windows(definition, 10)
    theirs = make_windows(definition, 3, state="activated", course_run=other_run)
    for window in own + theirs:
        observe(window.user, "handle_time", window.opened_at - timedelta(days=5), 10.0)
        observe(window.user, "handle_time", window.opened_at + timedelta(days=5), 9.0 + len(window.user.username) % 2)
    [seen] = api.analytics(definition, now=NOW, visible_runs=[course_key])["kpi"]
    assert seen["suppressed"] and seen["activated"]["n"] is None
    [everyone] = api.analytics(definition, now=NOW, visible_runs=[course_key, other_run])["kpi"]
    assert not everyone["suppressed"] and everyone["activated"]["n"] == 13


def test_the_landing_page_and_the_legacy_section_show_a_one_run_course_its_4_of_20(
        client, make_definition, course_key, course_staff):
    definition = make_definition()
    make_windows(definition, 4, state="activated")
    make_windows(definition, 16)
    client.force_login(course_staff)
    landing = client.get(reverse("activation_plugin:instructor", kwargs={"course_id": str(course_key)})).content
    [_info, section] = run_legacy_filter(course_staff, course_key)
    for html in (landing, section["fragment"].content):
        rate = BeautifulSoup(html, "html.parser").select_one(".activation-summary [data-figure=rate]")
        assert rate.get_text().strip().startswith("20.0")


def test_a_response_rate_of_0_does_not_tell_a_hidden_0_of_20(make_definition, course_key, other_run, course_staff):
    definition = make_definition()
    make_windows(definition, 10, state="activated", course_run=course_key)
    make_windows(definition, 10, course_run=course_key)
    make_windows(definition, 20, course_run=other_run)  # nobody answered, nobody activated
    figures = api.analytics(definition, now=NOW, visible_runs=seen_by(course_staff, course_key))
    assert figures["data_quality"]["response_rate"] is None and figures["data_quality"]["prompted"] is None
    assert figures["summary"]["rate"] is None


def test_the_non_response_panel_does_not_give_a_hidden_holdout_back(make_definition, course_key, other_run):
    definition = make_definition(holdout_percent=20)
    add_evidence(make_windows(definition, 10, state="activated", course_run=other_run))
    make_windows(definition, 10, course_run=other_run)
    make_windows(definition, 1, state="activated", arm="holdout", course_run=other_run)
    make_windows(definition, 5, arm="holdout", course_run=other_run)
    figures = api.analytics(definition, now=NOW)
    assert all(arm["suppressed"] for arm in figures["arms"]["arms"])
    # eligible (26) minus the prompted arm's 20, and the rate's 11 minus the prompted arm's 10, gave 1 of 6.
    assert figures["data_quality"]["prompted"] is None and figures["data_quality"]["responded"] is None


def test_two_breakdowns_combined_do_not_give_a_hidden_3_of_3_back(make_definition, course_key):
    definition = make_definition()
    for cohort in ("B", "D"):
        make_windows(definition, 5, state="activated", enrollment_mode="verified", cohort=cohort)
        make_windows(definition, 5, enrollment_mode="verified", cohort=cohort)
    make_windows(definition, 3, state="activated", enrollment_mode="audit", cohort="A")
    make_windows(definition, 6, state="activated", enrollment_mode="honor", cohort="C")
    make_windows(definition, 6, enrollment_mode="honor", cohort="C")
    figures = api.analytics(definition, now=NOW)
    modes = {row["value"]: row for row in figures["segments"]["enrollment_mode"]}
    cohorts = {row["value"]: row for row in figures["segments"]["cohort"]}
    # Before: audit and honor hidden by mode, but cohort C (= honor) shown, the next smallest cohort
    # (B or D) hidden with A instead: the headline minus verified minus C gave audit's 3 of 3.
    assert modes["audit"]["suppressed"] and modes["honor"]["suppressed"]
    assert cohorts["C"]["activated"] is None


def test_the_funnels_answers_do_not_give_a_hidden_response_rate_back(
        make_definition, course_key, other_run, course_staff, staff_client):
    """
    CI's hypothesis course: another run's prompted arm answered 6 times in 10 (4 silent: hidden),
    yet the funnel, tested on activations only (5 of 10), showed its "responded" 6 of 10.
    """
    definition = make_definition(holdout_percent=20)
    make_windows(definition, 10, state="activated")
    make_windows(definition, 10)
    add_evidence(make_windows(definition, 5, state="activated", course_run=other_run))
    add_evidence(make_windows(definition, 1, course_run=other_run))
    make_windows(definition, 4, course_run=other_run)
    add_evidence(make_windows(definition, 5, state="activated", arm="holdout", course_run=other_run))
    make_windows(definition, 5, arm="holdout", course_run=other_run)
    body = staff_client.get(api_url("definition_figures", course_id=course_key, definition_id=definition.pk)).json()
    figures = body["figures"]
    assert figures["data_quality"]["response_rate"] is None
    for arm in ("prompted", "holdout"):
        counts = {stage["stage"]: stage["count"] for stage in figures["funnel"][arm]}
        assert counts["responded"] is None and counts["verified"] is None
        assert counts["completed"] is not None  # the arms' activations are not what is hidden
    # The non-response panel's responders are both arms' ended answers: with the holdout's 5 they gave 6 back too.
    assert figures["data_quality"]["non_response"]["responders"] is None
    exported = exported_figures(staff_client, course_key, definition)
    assert exported[("funnel.prompted.count", "stage=responded")] == ""
    assert exported[("data_quality.non_response.responders", "")] == ""
    html = page(staff_client, course_key, definition)
    responded = html.select_one("[data-table=funnel] tr[data-stage=responded]")
    assert [cell.get_text().strip() for cell in responded.select("td")] == ["hidden", "hidden"]


def _released(figures, run):
    """What the viewer reads of the headline and of ``run``'s row: ``(eligible, activated)`` of each, None if hidden."""
    summary = figures["summary"]
    [row] = [row for row in figures["runs"]["runs"] if row["course_run"] == str(run)]
    return (summary["eligible"], summary["activated"]), (row["eligible"], row["activated"])


def test_yesterdays_figures_do_not_give_the_learner_whose_window_ended_since(
        make_definition, course_key, other_run, course_staff, staff_client):
    """
    Another run's 5 of 10 shown yesterday; since then one more of its windows ended, without an
    activation. Today's headline and run row minus yesterday's (the viewer's own rows unchanged) would
    be that learner's 0 of 1: the figures stay where they were until what ended since can be shown.
    """
    now = timezone.now()
    definition = make_definition()
    make_windows(definition, 10, state="activated")
    make_windows(definition, 10)
    add_evidence(make_windows(definition, 5, state="activated", course_run=other_run))
    make_windows(definition, 5, course_run=other_run)
    make_windows(definition, 1, course_run=other_run, opened_at=now - timedelta(days=definition.window_days + 1))
    visible = seen_by(course_staff, course_key)
    yesterday = _released(api.analytics(definition, now=now - timedelta(days=1, hours=1), visible_runs=visible),
                          other_run)
    assert yesterday == ((30, 15), (10, 5))
    today = staff_client.get(api_url("definition_figures", course_id=course_key, definition_id=definition.pk)).json()
    assert _released(today["figures"], other_run) == yesterday
    exported = exported_figures(staff_client, course_key, definition)
    assert (exported[("summary.eligible", "")], exported[("runs.runs.eligible", f"course_run={other_run}")]) == (
        "30", "10")
    assert page(staff_client, course_key, definition).select_one("[data-figure=rate]").get_text().strip().startswith(
        "50.0")
    # Staff of both runs see the learner's window: nothing is held from them.
    both = api.analytics(definition, visible_runs=[course_key, other_run])
    assert _released(both, other_run) == ((31, 15), (11, 5))


def test_the_figures_move_once_what_ended_since_can_be_shown(make_definition, course_key, other_run):
    definition = make_definition()
    make_windows(definition, 10, state="activated")
    make_windows(definition, 10)
    add_evidence(make_windows(definition, 5, state="activated", course_run=other_run))
    make_windows(definition, 5, course_run=other_run)
    late = CLOSED_AT + timedelta(days=3)
    make_windows(definition, 1, course_run=other_run, opened_at=late)
    held = api.analytics(definition, now=NOW, visible_runs=[course_key])
    assert _released(held, other_run) == ((30, 15), (10, 5))
    # Ten more of the other run's windows end the next day, five activated: 5 of 11 then shows.
    add_evidence(make_windows(definition, 5, state="activated", course_run=other_run,
                              opened_at=late + timedelta(days=1)))
    make_windows(definition, 5, course_run=other_run, opened_at=late + timedelta(days=1))
    cache.clear()  # the windows were made behind the api's back, which would have refreshed the figures
    moved = api.analytics(definition, now=NOW, visible_runs=[course_key])
    assert _released(moved, other_run) == ((41, 20), (21, 10))


def _measured(windows, change):
    for number, window in enumerate(windows):
        observe(window.user, "handle_time", window.opened_at - timedelta(days=5), 10.0)
        observe(window.user, "handle_time", window.opened_at + timedelta(days=5), 10.0 + change + number % 2)


def _colleagues(opened_at, count=6):
    for number in range(count):
        observe(None, "handle_time", opened_at - timedelta(days=5), 10.0, external_id=f"EMP-{number}")
        observe(None, "handle_time", opened_at + timedelta(days=5), 10.0 + number % 3, external_id=f"EMP-{number}")


def test_the_course_effect_minus_ones_own_learners_is_not_another_runs_learner(
        make_definition, course_key, other_run, course_staff, staff_client):
    """Staff of 2026 upload their 10 learners' observations: the pooled 11 completers minus theirs gave 2027's one."""
    definition = make_definition(requirements=[PROJECT, METRIC])
    _measured(make_windows(definition, 10), 1.0)
    _measured(make_windows(definition, 1, course_run=other_run), 7.0)
    _colleagues(CLOSED_AT)
    body = staff_client.get(api_url("definition_figures", course_id=course_key, definition_id=definition.pk)).json()
    [effect] = body["figures"]["course_effect"]
    assert effect["suppressed"] and effect["completers"]["n"] is None and effect["completers"]["mean_delta"] is None
    exported = exported_figures(staff_client, course_key, definition)
    assert exported[("course_effect.completers.n", "metric=handle_time")] == ""
    assert page(staff_client, course_key, definition).select_one("[data-figure=course-effect]") is None
    # Staff of both runs know every completer's observations anyway.
    [everyone] = api.analytics(definition, visible_runs=[course_key, other_run])["course_effect"]
    assert everyone["completers"]["n"] == 11


def test_yesterdays_course_effect_does_not_give_the_completer_measured_since(make_definition):
    """An org view: 10 completers' mean change yesterday, 11 today (one window ended in between) gave that one's."""
    definition = make_definition(requirements=[PROJECT, METRIC])
    _measured(make_windows(definition, 10), 1.0)
    late = CLOSED_AT + timedelta(days=3)
    _measured(make_windows(definition, 1, opened_at=late), 7.0)
    _colleagues(CLOSED_AT)
    closed = late + timedelta(days=definition.window_days)
    [yesterday] = api.analytics(definition, now=closed - timedelta(hours=1))["course_effect"]
    [today] = api.analytics(definition, now=closed + timedelta(days=1))["course_effect"]
    assert yesterday["completers"]["n"] == 10 and not yesterday["suppressed"]
    assert (today["completers"]["n"], today["completers"]["mean_delta"]) == (
        10, yesterday["completers"]["mean_delta"])


def _running_figures(figures):
    """
    What a viewer reads of the figures that count running windows: the curve's points, the running
    windows already activated, the funnel's stages, persistence and the KPI split by outcome.
    """
    summary = figures["summary"]
    return {
        "curve": [(point.day, point.at_risk, point.events, point.censored) for point in summary["km_curve"]],
        "open_activated": summary["open_activated"],
        "funnel": {arm: [stage["count"] for stage in stages] for arm, stages in figures["funnel"].items()},
        "persistence": (figures["persistence"]["activated"], figures["persistence"]["repeat"]),
        "kpi": [(row["activated"]["n"], row["activated"]["mean_delta"], row["not_activated"]["n"],
                 row["not_activated"]["mean_delta"]) for row in figures["kpi"]],
    }


def _the_other_runs_running_windows(definition, other_run):
    """
    Another run's 5 of 10 ended long ago (released), and 10 of its windows running since ten days
    ago, 5 of them activated on their second day: every figure passes its cell test on its own.
    """
    add_evidence(make_windows(definition, 5, state="activated", course_run=other_run))
    make_windows(definition, 5, course_run=other_run)
    add_evidence(make_windows(definition, 5, state="activated", course_run=other_run, days=2,
                              opened_at=NOW - timedelta(days=10)))
    make_windows(definition, 5, state="open", course_run=other_run, opened_at=NOW - timedelta(days=10))


@pytest.mark.parametrize("change", ["activated", "censored"])
def test_the_next_days_running_figures_do_not_give_one_learners_outcome(
        make_definition, course_key, other_run, course_staff, change):
    """
    Issue 27, running windows over time. Staff of 2026 keep today's figures and tomorrow's. Their
    own windows all ended long ago; of the other run, only one learner's window changed overnight:
    it activated on its 8th day, or it closed without activating. Whatever of the curve, the running
    windows, the funnel or persistence moved in between is that learner's outcome.
    """
    definition = make_definition(requirements=[PROJECT, METRIC])
    own = make_windows(definition, 10, state="activated") + make_windows(definition, 10)
    _measured(own, 1.0)
    _the_other_runs_running_windows(definition, other_run)
    opened = NOW - timedelta(days=8 if change == "activated" else definition.window_days)
    [learner] = make_windows(definition, 1, state="open", course_run=other_run,
                             opened_at=opened + timedelta(hours=13))  # closes tomorrow 01:00 when censored
    _measured([learner], 5.0)
    visible = seen_by(course_staff, course_key)
    today = _running_figures(api.analytics(definition, now=NOW, visible_runs=visible))
    tomorrow = NOW + timedelta(days=1)
    if change == "activated":
        add_evidence([learner])
        ActivationWindow.objects.filter(pk=learner.pk).update(
            state="activated", activated_at=NOW + timedelta(hours=3), days_to_activation=8)
        counted([learner])
    cache.clear()
    after = _running_figures(api.analytics(definition, now=tomorrow, visible_runs=visible))
    assert after == today
    # Staff of both runs see the learner's window row by row: nothing is held from them.
    both = [course_key, other_run]
    assert _running_figures(api.analytics(definition, now=tomorrow, visible_runs=both)) != _running_figures(
        api.analytics(definition, now=NOW, visible_runs=both))


def test_the_curve_of_staff_of_one_run_is_their_learners_and_the_others_released_windows(
        make_definition, course_key, other_run):
    """Their own running windows count as they are; the other run's running windows are left out."""
    definition = make_definition()
    running = NOW - timedelta(days=10, hours=1)
    for run in (course_key, other_run):
        make_windows(definition, 5, state="activated", course_run=run)
        make_windows(definition, 5, course_run=run)
    make_windows(definition, 4, state="activated", days=2, opened_at=running)
    make_windows(definition, 6, state="open", opened_at=running)
    make_windows(definition, 3, state="activated", days=4, opened_at=running, course_run=other_run)
    make_windows(definition, 3, state="open", opened_at=running, course_run=other_run)
    seen = api.summarize(definition, now=NOW, visible_runs=[course_key])
    assert seen["running_left_out"] and not seen["km_suppressed"]
    assert seen["km_curve"] == stats.kaplan_meier({2: (4, 0), 3: (10, 0), 10: (0, 6), 30: (0, 10)})
    both = api.summarize(definition, now=NOW, visible_runs=[course_key, other_run])
    assert both["km_curve"] == stats.kaplan_meier({2: (4, 0), 3: (10, 0), 4: (3, 0), 10: (0, 9), 30: (0, 10)})
    assert (both["running_left_out"], both["open_activated"]) == (False, 7)


def test_an_activation_whose_tallies_have_not_moved_yet_does_not_show_on_the_curve(
        make_definition, course_key, other_run):
    """
    Another run's running window activated on its 8th day, but its tallies move after the commit
    (``tally_stale``): the curve, which takes the others' running activations away from the tallied
    days, must not take this one away before it is there, or one of the viewer's own day-8
    activations would vanish until the move, telling that someone activated on day 8.
    """
    definition = make_definition()
    make_windows(definition, 5, state="activated", days=8)
    make_windows(definition, 5)
    _the_other_runs_running_windows(definition, other_run)
    [learner] = make_windows(definition, 1, state="open", course_run=other_run, opened_at=NOW - timedelta(days=9))
    before = api.summarize(definition, now=NOW, visible_runs=[course_key])["km_curve"]
    ActivationWindow.objects.filter(pk=learner.pk).update(
        state="activated", activated_at=NOW - timedelta(days=1), days_to_activation=8, tally_stale=True)
    assert api.summarize(definition, now=NOW, visible_runs=[course_key])["km_curve"] == before
    counted([learner])  # the move: the tallies now have it, and the curve still leaves it out
    assert api.summarize(definition, now=NOW, visible_runs=[course_key])["km_curve"] == before


def test_the_page_says_why_other_runs_running_windows_are_left_out(
        make_definition, course_key, other_run, course_staff, staff_client):
    now = timezone.now()
    definition = make_definition(requirements=[PROJECT, METRIC])
    make_windows(definition, 10, state="activated")
    make_windows(definition, 10)
    make_windows(definition, 6, state="activated", days=1, course_run=other_run, opened_at=now - timedelta(days=3))
    make_windows(definition, 6, state="open", course_run=other_run, opened_at=now - timedelta(days=3))
    html = page(staff_client, course_key, definition)
    assert "one learner at a time" in html.select_one("[data-note=running-left-out]").get_text()
    assert html.select_one("[data-figure=open_activated]").get_text().strip() == "—"
    assert "runs you cannot see one by one" in html.select_one("[data-note=kpi-partial-view]").get_text()
    summary = staff_client.get(api_url("definition_summary", course_id=course_key,
                                       definition_id=definition.pk)).json()["figures"]
    assert summary["running_left_out"] is True and summary["open_activated"] is None
    assert exported_figures(staff_client, course_key, definition)[("summary.open_activated", "")] == ""
    # Staff of both runs see those windows row by row: nothing is left out.
    Group.objects.create(name=f"activation-staff:{other_run}").user_set.add(course_staff)
    cache.clear()
    html = page(staff_client, course_key, definition)
    assert html.select_one("[data-note=running-left-out]") is None
    assert html.select_one("[data-figure=open_activated]").get_text().strip() == "6"


# Property test ------------------------------------------------------------------------------------

RUNS = ("course-v1:TestX+APPLY+2026", "course-v1:TestX+APPLY+2027", "course-v1:TestX+APPLY+2028")
ARMS = ("prompted", "holdout")
MODES = ("verified", "audit")
COHORTS = ("", "A")
KEYS = [(run, arm, mode, cohort, ended) for run in RUNS for arm in ARMS for mode in MODES for cohort in COHORTS
        for ended in (True, False)]


@st.composite
def courses(draw):
    """
    Counts per cell (completers, then activated and responded among them: activation needs an
    answer here), and the runs the viewer is staff of (some, not all).
    """
    runs = RUNS[:draw(st.integers(2, 3))]
    counts = {}
    for key in KEYS:
        if key[0] not in runs or (key[1] == "holdout" and not draw(st.booleans())):
            continue
        n = draw(st.integers(0, 8))
        activated = draw(st.integers(0, n))
        counts[key] = (n, activated, draw(st.integers(activated, n)))
    return counts, frozenset(runs[:draw(st.integers(1, len(runs) - 1))])


def tallied_of(counts):
    rows = []
    for (run, arm, mode, cohort, ended), (n, activated, responded) in counts.items():
        rows.append({"course_run": run, "arm": arm, "enrollment_mode": mode, "org": "TestX", "cohort": cohort,
                     "ended": ended, "first_opened": NOW, **dict.fromkeys(CELL_COUNTERS, 0), "completers": n,
                     "activated": activated, "responded": responded, "verified": responded,
                     "prompted": n if arm == "prompted" else 0})
    return Tallies(rows, [], {3: sum(c[1] for c in counts.values())}, {})


def released(definition, counts, visible):
    """Every figure the viewer gets, as the page's analytics computes them (bar the KPI figures)."""
    tallied = tallied_of(counts)
    unseen = tallied._replace(cells=[row for row in tallied.cells if row["course_run"] not in visible])
    cell_rows, unseen_cells = cells(definition, NOW, tallied), cells(definition, NOW, unseen)
    stage_counts = headline.funnel_counts(definition, NOW, tallied)
    return {
        "summary": headline.summarize(definition, now=NOW, tallied=tallied, visible_runs=visible),
        "funnel": headline.funnel_from_counts(stage_counts, headline.funnel_counts(definition, NOW, unseen)),
        "persistence": headline.persistence(definition, tallied, visible),
        "runs": runs_from_cells(cell_rows, unseen_cells)["runs"],
        "arms": (arms_from_cells(cell_rows, unseen_cells) or {"arms": []})["arms"],
        "segments": {dimension: segments_from_cells(cell_rows, dimension, unseen_cells)
                     for dimension in ("enrollment_mode", "cohort")},
        "data_quality": quality.data_quality(definition, now=NOW, funnel_counts=stage_counts, tallied=tallied,
                                             visible_runs=visible),
    }


class Attack:
    """
    What the viewer knows as linear equations on the unseen cells' counts (completers, activated,
    responded of each unseen cell), each released count minus its visible part.
    """

    def __init__(self, counts, visible):
        self.unknowns = [(key, index) for key in counts if key[0] not in visible for index in range(3)]
        self.equations = []

    def vector(self, where, index):
        return [Fraction(1 if (where(key) and position == index) else 0) for key, position in self.unknowns]

    def learn(self, value, where, index):
        if value is not None:
            self.equations.append(self.vector(where, index))

    def recovers(self, where, index):
        target = self.vector(where, index)
        if not any(target):
            return False
        return _rank(self.equations + [target]) == _rank(self.equations)


def _rank(rows):
    rows = [list(row) for row in rows]
    rank = 0
    for column in range(len(rows[0]) if rows else 0):
        pivot = next((i for i in range(rank, len(rows)) if rows[i][column]), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for i, row in enumerate(rows):
            if i != rank and row[column]:
                factor = row[column] / rows[rank][column]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[rank])]
        rank += 1
    return rank


COMPLETERS, ACTIVATED, RESPONDED = 0, 1, 2


def is_ended(key):
    return key[4]


def everyone(_key):
    return True


def group(field, value, ended_only=True):
    position = {"course_run": 0, "arm": 1, "enrollment_mode": 2, "cohort": 3}[field]
    return lambda key: key[position] == value and (key[4] or not ended_only)


def both(first, second):
    return lambda key: first(key) and second(key)


def learn_everything(attack, figures):
    summary = figures["summary"]
    attack.learn(summary["completers"], everyone, COMPLETERS)
    attack.learn(summary["eligible"], is_ended, COMPLETERS)
    attack.learn(summary["activated"], is_ended, ACTIVATED)
    attack.learn(summary["open"], lambda key: not key[4], COMPLETERS)
    attack.learn(summary["open_activated"], lambda key: not key[4], ACTIVATED)
    # The curve, the funnel and persistence count the unseen learners once their windows ended
    # (their running windows would move them by one learner a day: see the two-day test below).
    if not summary["km_suppressed"] and summary["km_curve"]:
        # The curve's events and its censoring at the window's end: every activation, and the ended
        # windows that did not activate.
        attack.learn(1, is_ended, ACTIVATED)
        attack.equations.append([a - b for a, b in zip(attack.vector(is_ended, COMPLETERS),
                                                       attack.vector(is_ended, ACTIVATED))])
    attack.learn(figures["persistence"]["activated"], is_ended, ACTIVATED)
    for arm, stages in figures["funnel"].items():
        counts = {stage["stage"]: stage["count"] for stage in stages}
        attack.learn(counts["completed"], group("arm", arm), COMPLETERS)
        attack.learn(counts["activated"], group("arm", arm), ACTIVATED)
        attack.learn(counts["responded"], group("arm", arm), RESPONDED)
    for field, rows, label in [("course_run", figures["runs"], "course_run"), ("arm", figures["arms"], "arm"),
                               *[(dimension, rows, "value") for dimension, rows in figures["segments"].items()]]:
        for row in rows:
            attack.learn(row["completers"], group(field, row[label], False), COMPLETERS)
            attack.learn(row["eligible"], group(field, row[label]), COMPLETERS)
            attack.learn(row["activated"], group(field, row[label]), ACTIVATED)
    quality_figures = figures["data_quality"]
    attack.learn(quality_figures["prompted"], group("arm", "prompted"), COMPLETERS)
    attack.learn(quality_figures["responded"], group("arm", "prompted"), RESPONDED)
    non_response = quality_figures["non_response"]
    attack.learn(non_response["eligible"], is_ended, COMPLETERS)
    attack.learn(non_response["responders"], is_ended, RESPONDED)
    attack.learn(non_response["rate_if_none"], is_ended, ACTIVATED)
    for dimension, rows in non_response["dimensions"].items():
        for row in rows:
            if row["responders_share"] is not None:
                attack.learn(1, group(dimension, row["value"]), RESPONDED)
                where = group(dimension, row["value"])
                attack.equations.append([a - b for a, b in zip(attack.vector(where, COMPLETERS),
                                                               attack.vector(where, RESPONDED))])


def hidden_groups(figures):
    """``(name, where, outcome)`` of every group the figures hid, over the ended windows."""
    summary = figures["summary"]
    if summary["rate_suppressed"]:
        yield "headline", is_ended, ACTIVATED
    for arm, stages in figures["funnel"].items():
        if stages[0]["count"] is None:
            yield f"funnel {arm}", group("arm", arm), ACTIVATED
        if stages[FUNNEL_STAGES.index("responded")]["count"] is None:
            yield f"funnel {arm} responded", group("arm", arm, False), RESPONDED
    for field, rows, label in [("course_run", figures["runs"], "course_run"), ("arm", figures["arms"], "arm"),
                               *[(dimension, rows, "value") for dimension, rows in figures["segments"].items()]]:
        for row in rows:
            if row["suppressed"]:
                yield f"{field}={row[label]}", group(field, row[label]), ACTIVATED
    if figures["data_quality"]["prompted"] is None:
        yield "response rate", group("arm", "prompted"), RESPONDED
    if figures["data_quality"]["non_response"]["suppressed"]:
        yield "non-response", is_ended, RESPONDED
    for dimension, rows in figures["data_quality"]["non_response"]["dimensions"].items():
        for row in rows:
            if row["suppressed"]:
                yield f"non-response {dimension}={row['value']}", group(dimension, row["value"]), RESPONDED


def unseen_tells(counts, visible, where, outcome):
    """Whether the hidden group's unseen part is one a cell test would hide (else hiding it was caution)."""
    total = sum(n for key, (n, _a, _r) in counts.items() if key[0] not in visible and where(key))
    part = sum(values[outcome] for key, values in counts.items() if key[0] not in visible and where(key))
    return total > 0 and (total < 5 or part < 5 or total - part < 5)


@pytest.fixture
def definition(make_definition):
    """One definition for every example (hypothesis runs them inside one test): the figures read only its opt-outs."""
    return make_definition(holdout_percent=20)


# The same 150 courses on every run (as the schemathesis test does): CI judges what a developer ran;
# explore more with a larger max_examples and derandomize off while working on the rules (issue 27: 300
# random courses of each test passed with answers protected, the last time the rules changed).
EXAMPLES = hypothesis_settings(max_examples=150, deadline=None, database=None, derandomize=True,
                               suppress_health_check=[HealthCheck.function_scoped_fixture])


@EXAMPLES
@given(courses())
def test_no_hidden_group_can_be_worked_out_by_staff_of_some_runs(definition, course):
    counts, visible = course
    figures = released(definition, counts, visible)
    attack = Attack(counts, visible)
    learn_everything(attack, figures)
    for name, where, outcome in hidden_groups(figures):
        if unseen_tells(counts, visible, where, outcome):
            leaked = attack.recovers(where, COMPLETERS) and attack.recovers(where, outcome)
            assert not leaked, f"{name} recovered from {len(attack.equations)} released counts"


@st.composite
def next_days(draw):
    """
    A course (``courses``) and the next day's counts: some of the running windows of the runs the
    viewer cannot see activated or answered overnight; nothing else changed (no window ended: when
    one does, ``release.walk`` decides, ``tests/test_figures_release.py``).
    """
    counts, visible = draw(courses())
    after = dict(counts)
    for key, (n, activated, responded) in counts.items():
        if key[0] not in visible and not is_ended(key):
            now_activated = draw(st.integers(activated, n))
            after[key] = (n, now_activated, draw(st.integers(max(responded, now_activated), n)))
    return counts, after, visible


# The curve's days are counted from the windows themselves (``headline._curve_without_unseen_running``),
# which these tallies do not model: the page-level test above differences them.
CURVE_KEYS = ("km_rate", "km_day", "km_ci", "km_curve", "km_band", "median_days", "median_ci", "quote")


def without_curve(figures):
    return {**figures, "summary": {key: value for key, value in figures["summary"].items() if key not in CURVE_KEYS}}


@EXAMPLES
@given(next_days())
def test_the_next_days_figures_are_todays_when_only_running_windows_moved(definition, days):
    """
    Issue 27, the previous day, over running windows: whatever the unseen learners' running windows
    did overnight, staff of some runs get the same figures on both days, so their difference tells
    nothing (and each day's figures are tested alone above); staff of every run see them move.
    """
    today, tomorrow, visible = days
    assert without_curve(released(definition, tomorrow, visible)) == without_curve(
        released(definition, today, visible))
    if today != tomorrow:
        assert released(definition, tomorrow, frozenset(RUNS)) != released(definition, today, frozenset(RUNS))


@EXAMPLES
@given(courses())
def test_staff_of_every_run_have_nothing_hidden(definition, course):
    counts, _visible = course
    figures = released(definition, counts, frozenset(RUNS))
    # Only an empty figure is empty: a response rate with nobody prompted, say.
    assert [name for name, where, _outcome in hidden_groups(figures)
            if sum(n for key, (n, _a, _r) in counts.items() if where(key))] == []
    assert figures["summary"]["suppressed"] is False
