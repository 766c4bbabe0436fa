"""summarize (km_band, suppression), funnel and persistence on hand-built windows, with exact figures."""
import math
from datetime import timedelta

import pytest
from statsmodels.duration.survfunc import SurvfuncRight

from activation_plugin import api, strength_tags
from activation_plugin.models import Evidence
from tests.conftest import NOW, PROJECT
from tests.figures_data import add_deliveries, add_evidence, make_windows

PROMPTED_PROJECT = {**PROJECT, "prompts": [{"send_after_days": 1, "subject": "How?", "body": "Tell us."}]}


@pytest.fixture
def definition(make_definition):
    return make_definition(requirements=[PROMPTED_PROJECT], window_days=30, holdout_percent=10)


def test_km_band_is_the_greenwood_log_log_band_of_cumulative_activation(definition):
    make_windows(definition, 3, state="activated", days=2)
    make_windows(definition, 2, state="activated", days=5)
    make_windows(definition, 10, state="expired")
    make_windows(definition, 6, state="open", opened_at=NOW - timedelta(days=10))
    # Staff of the run: anyone else gets the curve without the running windows (issue 27).
    summary = api.summarize(definition, now=NOW, visible_runs=[definition.course_key])
    days = [point.day for point in summary["km_curve"]]
    assert days == [band["day"] for band in summary["km_band"]] == [2, 5, 10, 30]

    durations = [2] * 3 + [5] * 2 + [30] * 10 + [10] * 6
    reference = SurvfuncRight(durations, [1] * 5 + [0] * 16)
    z = 1.959963984540054
    bands = {band["day"]: band for band in summary["km_band"]}
    for day, surv, se in zip(reference.surv_times, reference.surv_prob, reference.surv_prob_se, strict=True):
        # statsmodels reports Greenwood's se; the plugin's band uses the log(-log S) transform.
        spread = math.exp(z * se / (surv * abs(math.log(surv))))
        assert bands[day]["low"] == pytest.approx(1 - surv ** (1 / spread))
        assert bands[day]["high"] == pytest.approx(1 - surv**spread)
    assert summary["km_rate"] == pytest.approx(1 - reference.surv_prob[-1])
    assert (summary["suppressed"], summary["rate_suppressed"]) == (False, False)


def test_small_definitions_hide_every_figure(definition):
    make_windows(definition, 2, state="activated")
    make_windows(definition, 2, state="expired")
    summary = api.summarize(definition, now=NOW)
    assert summary["suppressed"] and summary["rate_suppressed"]
    assert [summary[key] for key in ("completers", "eligible", "activated", "open", "rate", "rate_ci", "km_rate")] \
        == [None] * 7
    assert summary["km_curve"] == summary["km_band"] == []
    assert {row["activated"] for row in summary["by_strength"]} == {None}


def test_too_few_closed_windows_hide_the_rate_and_every_count_that_tells_it(definition):
    make_windows(definition, 1, state="activated")
    make_windows(definition, 2, state="expired")
    make_windows(definition, 9, state="open", opened_at=NOW - timedelta(days=3))
    summary = api.summarize(definition, now=NOW)
    assert (summary["suppressed"], summary["rate_suppressed"]) == (False, True)
    assert (summary["completers"], summary["rate"], summary["rate_ci"]) == (12, None, None)
    # completers − open would give the 3 ended windows, and activated their outcome.
    assert [summary[key] for key in ("eligible", "activated", "not_activated", "open")] == [None] * 4
    assert {(row["activated"], row["rate"]) for row in summary["by_strength"]} == {(None, None)}


@pytest.mark.parametrize("activated, expired", [(3, 4), (0, 20), (20, 0), (4, 16), (16, 4)])
def test_a_small_count_on_either_side_of_the_outcome_hides_the_rate(definition, activated, expired):
    """Issue 16: 3 of 7 ended windows hid the rate, yet eligible = 3, activated = 3 and the strengths showed 100 %."""
    make_windows(definition, activated, state="activated")
    make_windows(definition, expired, state="expired")
    summary = api.summarize(definition, now=NOW)
    assert summary["rate_suppressed"] and summary["rate"] is None
    assert summary["activated"] is None and summary["eligible"] is None
    assert all(row["activated"] is None for row in summary["by_strength"])


def test_all_windows_open_are_all_censored(definition, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    make_windows(definition, 8, state="open", opened_at=NOW - timedelta(days=4))
    summary = api.summarize(definition, now=NOW)
    assert (summary["eligible"], summary["rate"], summary["km_rate"], summary["median_days"]) == (0, None, 0.0, None)
    assert [(p.day, p.censored, p.survival) for p in summary["km_curve"]] == [(4, 8, 1.0)]


def test_everyone_activated(definition, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    make_windows(definition, 6, state="activated", days=4)
    summary = api.summarize(definition, now=NOW)
    assert (summary["rate"], summary["km_rate"], summary["median_days"]) == (1.0, 1.0, 4)
    assert summary["rate_ci"][1] == 1.0


def test_funnel_counts_each_stage_per_arm_and_leaves_out_withdrawn_and_rejected(definition, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1  # the counting rules; hiding is tests/test_figures_suppression.py's
    activated = make_windows(definition, 3, state="activated")
    expired = make_windows(definition, 7, state="expired")
    add_deliveries(activated + expired[:5])
    add_deliveries(expired[5:6], status="failed")  # never reached the learner
    add_evidence(activated)
    add_evidence(expired[:1])  # verified, yet the rule wanted more
    add_evidence(expired[1:2], status="submitted")
    add_evidence(expired[2:3], status="rejected")
    held_activated = make_windows(definition, 1, state="activated", arm="holdout")
    make_windows(definition, 5, state="expired", arm="holdout")
    add_evidence(held_activated)
    withdrawn = make_windows(definition, 2, state="withdrawn")
    add_evidence(withdrawn)
    add_deliveries(withdrawn)

    result = api.funnel(definition, now=NOW)
    assert [(row["stage"], row["count"], row["share"]) for row in result["prompted"]] == [
        ("completed", 10, 1.0), ("prompted", 8, 0.8), ("responded", 5, 0.5), ("verified", 4, 0.4),
        ("activated", 3, 0.3)]
    assert [row["count"] for row in result["holdout"]] == [6, 0, 1, 1, 1]


def test_funnel_hides_both_arms_when_one_is_small(definition):
    make_windows(definition, 10, state="expired")
    make_windows(definition, 3, state="expired", arm="holdout")
    result = api.funnel(definition, now=NOW)
    assert {row["count"] for arm in result.values() for row in arm} == {None}


def test_funnel_without_holdout_shows_an_empty_holdout_arm(make_definition, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition(requirements=[PROMPTED_PROJECT])
    make_windows(definition, 6, state="expired")
    result = api.funnel(definition, now=NOW)
    assert result["prompted"][0] == {"stage": "completed", "count": 6, "share": 1.0}
    assert result["holdout"][0] == {"stage": "completed", "count": 0, "share": None}


def test_funnel_of_an_empty_definition(definition):
    result = api.funnel(definition, now=NOW)
    assert [row["count"] for arm in result.values() for row in arm] == [0] * 10


def test_persistence_counts_repeat_verified_evidence(definition):
    activated = make_windows(definition, 6, state="activated")
    add_evidence(activated[:2], copies=2)
    add_evidence(activated[2:3], copies=3)
    add_evidence(activated[2:3], status="rejected")
    add_evidence(activated[3:])
    add_evidence(make_windows(definition, 4, state="expired"), copies=2)  # not activated: not persistence
    # Staff of the run: for anyone else, evidence written after the windows ended waits as a late change.
    assert api.persistence(definition, visible_runs=[definition.course_key]) == {
        "activated": 6, "repeat": 3, "repeat_share": 0.5, "evidence_per_activated": pytest.approx(10 / 6),
        "suppressed": False}


def test_persistence_is_hidden_below_the_cell_size(definition):
    add_evidence(make_windows(definition, 4, state="activated"), copies=2)
    assert api.persistence(definition)["suppressed"] is True
    assert api.persistence(definition)["repeat_share"] is None
    # Staff of the run see its windows row by row: nothing is hidden from them (issue 27).
    assert api.persistence(definition, visible_runs=[definition.course_key])["repeat_share"] == 1.0


def test_rate_by_strength_counts_a_window_under_each_strength_that_verified_it(definition, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    windows = make_windows(definition, 6, state="activated")
    add_evidence(windows[:2], strength="peer")
    add_evidence(windows[1:3], strength="staff", copies=2)
    add_evidence(windows[3:], status="rejected")
    add_evidence(make_windows(definition, 4, state="expired"), strength="supervisor")  # not activated
    add_evidence(make_windows(definition, 2, state="withdrawn"), strength="kpi")
    # Running windows that activated are not in the rate, nor in its breakdown by strength.
    add_evidence(make_windows(definition, 3, state="activated", opened_at=NOW - timedelta(days=5)), strength="peer")
    rows = {row["strength"]: (row["activated"], row["rate"])
            for row in api.summarize(definition, now=NOW)["by_strength"]}
    assert rows == {"peer": (2, 0.2), "staff": (2, 0.2), "self_report": (0, 0.0), "supervisor": (0, 0.0),
                    "kpi": (0, 0.0)}


def test_strength_counts_that_would_single_learners_out_are_hidden(definition):
    windows = make_windows(definition, 8, state="activated")
    add_evidence(windows[:6], strength="peer")
    add_evidence(windows[6:], strength="staff")
    make_windows(definition, 12, state="expired")
    rows = {row["strength"]: (row["activated"], row["rate"])
            for row in api.summarize(definition, now=NOW)["by_strength"]}
    assert rows["peer"] == (6, 0.3) and rows["staff"] == (None, None) and rows["kpi"] == (None, None)


def test_the_window_strength_tags_know_every_strength_of_evidence():
    assert strength_tags.STRENGTHS == tuple(sorted(Evidence.Strength.values))
    assert strength_tags.tag({"staff", "peer"}) == ",peer,staff," and strength_tags.tag(set()) == ""


def test_evaluate_window_keeps_the_strength_tag_in_step_with_verified_evidence(make_definition, course_key,
                                                                               staff_user):
    from tests.factories import UserFactory  # pylint: disable=import-outside-toplevel
    definition = make_definition(requirements=[PROJECT, {**PROJECT, "title": "Checked", "verification": "staff"}])
    self_reported, checked = definition.requirements.all()
    [window] = api.open_windows(UserFactory().pk, course_key, "passing", NOW)
    api.record_evidence(window=window, requirement=self_reported, source="learner", payload={"text": "a"},
                        idempotency_key="t1", submitted_at=NOW)
    window.refresh_from_db()
    assert (window.state, window.verified_strengths) == ("activated", ",self_report,")
    evidence = api.record_evidence(window=window, requirement=checked, source="learner", payload={"text": "b"},
                                   idempotency_key="t2", submitted_at=NOW)
    api.review_evidence(evidence, verdict="verified", role="staff", reviewer=staff_user)
    window.refresh_from_db()
    assert window.verified_strengths == ",self_report,staff,"  # already activated: only the tag changed
    api.review_evidence(evidence, verdict="rejected", role="staff", reviewer=UserFactory(is_staff=True))
    window.refresh_from_db()  # staff's latest verdict wins
    assert window.verified_strengths == ",self_report,"
