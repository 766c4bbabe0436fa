"""
Planning a comparison before it starts (issue 16): what it can detect, the completers it needs,
and a plan registered once, with the tab warning against reading the result early.
"""
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from activation_plugin import api, stats
from activation_plugin.errors import ActivationRequestError, DefinitionLocked
from tests.conftest import NOW
from tests.figures_data import make_windows


@pytest.mark.parametrize("p_base, p_other, n_base, n_other", [
    (0.18, 0.29, 50, 200), (0.18, 0.29, 300, 300), (0.4, 0.3, 80, 120), (0.05, 0.12, 1000, 250)])
def test_power_matches_statsmodels(p_base, p_other, n_base, n_other):
    reference = NormalIndPower().power(proportion_effectsize(p_other, p_base), n_other, 0.05, ratio=n_base / n_other)
    assert stats.power_two_rates(p_base, p_other, n_base, n_other) == pytest.approx(reference)


def test_the_intake_needed_for_18_to_29_percent_matches_statsmodels():
    """The issue's example: the intake needed to detect 18 % → 29 %, with a 20 % holdout and with equal groups."""
    effect = proportion_effectsize(0.29, 0.18)
    for holdout in (0.2, 0.5):
        prompted = NormalIndPower().solve_power(effect, alpha=0.05, power=0.8, ratio=holdout / (1 - holdout))
        needed = stats.learners_needed(0.18, 0.29, 1 - holdout)
        assert needed == pytest.approx(prompted / (1 - holdout), abs=1.01)
        assert stats.power_two_rates(0.18, 0.29, needed * holdout, needed * (1 - holdout)) >= 0.8


def test_the_minimum_detectable_rate_is_where_power_reaches_80_percent():
    rate = stats.minimum_detectable_rate(0.18, 100, 400)
    assert stats.power_two_rates(0.18, rate, 100, 400) == pytest.approx(0.8, abs=1e-9)
    assert stats.minimum_detectable_rate(0.5, 2, 2) is None  # not even 100 % would be detected


def test_a_holdout_plan_for_the_expected_intake(make_definition):
    definition = make_definition(holdout_percent=20)
    plan = api.plan_comparison(definition, expected_intake=500, baseline_rate=0.18, hoped_rate=0.29)
    assert (plan["design"], plan["groups"]) == ("holdout", {"baseline": 100, "other": 400})
    assert plan["minimum_detectable_rate"] == pytest.approx(stats.minimum_detectable_rate(0.18, 100, 400))
    assert plan["power_at_intake"] == pytest.approx(stats.power_two_rates(0.18, 0.29, 100, 400))
    assert plan["learners_needed"] == stats.learners_needed(0.18, 0.29, 0.8)
    with pytest.raises(ActivationRequestError):
        api.plan_comparison(definition, expected_intake=500, baseline_rate=18, hoped_rate=0.29)


def test_a_plan_is_registered_once_and_the_tab_warns_until_its_end(make_definition, client, course_staff, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition(holdout_percent=20)
    make_windows(definition, 10, state="expired")
    make_windows(definition, 6, state="activated", arm="holdout")
    end = timezone.now().date() + timedelta(days=30)
    url = reverse("activation_plugin:definition_plan", kwargs={
        "course_id": str(definition.course_key), "definition_id": definition.pk})
    page = reverse("activation_plugin:definition", kwargs={
        "course_id": str(definition.course_key), "definition_id": definition.pk})
    client.force_login(course_staff)
    planned = client.get(page, {"plan_intake": "500", "plan_baseline": "18", "plan_hoped": "29"}).content.decode()
    assert 'data-figure="mdd"' in planned and 'data-figure="learners_needed"' in planned
    client.post(url, {"hypothesis": "Prompts raise the rate from 18 % to 29 %", "primary_figure": "holdout_difference",
                      "sample_size": "720", "end_date": end.isoformat()})
    definition.refresh_from_db()
    assert definition.comparison_plan["sample_size"] == 720
    assert 'data-plan="early"' in client.get(page).content.decode()
    with pytest.raises(DefinitionLocked):
        api.register_plan(definition, hypothesis="moved goalposts", primary_figure="rate", sample_size=10,
                          end_date=end)
    assert api.plan_status(definition, eligible=720, now=timezone.now() + timedelta(days=31))["reached"]
    assert api.plan_status(definition, eligible=719, now=timezone.now() + timedelta(days=31))["early"]


@pytest.mark.parametrize("fields, field", [
    ({"hypothesis": " "}, "hypothesis"), ({"primary_figure": "p_value"}, "primary_figure"),
    ({"sample_size": 1}, "sample_size"), ({"end_date": date(2000, 1, 1)}, "end_date"),
    ({"design": "course_waitlist"}, "design"), ({"design": "coin_toss"}, "design"),
    ({"primary_figure": "course_effect", "design": "follow_up_holdout"}, "design")])
def test_a_plan_needs_every_part(make_definition, fields, field):
    valid = {"hypothesis": "h", "primary_figure": "rate", "sample_size": 40, "end_date": NOW.date() + timedelta(3650)}
    with pytest.raises(ActivationRequestError) as error:
        api.register_plan(make_definition(), **{**valid, **fields})
    assert error.value.field == field


@pytest.mark.parametrize("figure, design, stored", [
    ("holdout_difference", None, "follow_up_holdout"), ("course_effect", None, "course_untrained"),
    ("course_effect", "course_waitlist", "course_waitlist"), ("run_difference", None, "runs")])
def test_the_plan_says_which_design_the_result_comes_from(make_definition, figure, design, stored):
    """Issue 26 §2: the holdout randomises the prompts; only a wait-listed group randomises the course."""
    definition = api.register_plan(make_definition(), hypothesis="h", primary_figure=figure, sample_size=40,
                                   end_date=NOW.date() + timedelta(3650), design=design)
    assert definition.comparison_plan["design"] == stored


def test_the_page_registers_the_design(client, course_staff, make_definition):
    definition = make_definition()
    url = reverse("activation_plugin:definition_plan", kwargs={
        "course_id": str(definition.course_key), "definition_id": definition.pk})
    page = reverse("activation_plugin:definition", kwargs={
        "course_id": str(definition.course_key), "definition_id": definition.pk})
    client.force_login(course_staff)
    assert 'name="design"' in client.get(page).content.decode()
    client.post(url, {"hypothesis": "The course cuts handle time", "primary_figure": "course_effect",
                      "design": "course_waitlist", "sample_size": "80",
                      "end_date": (timezone.now().date() + timedelta(days=90)).isoformat()})
    definition.refresh_from_db()
    assert definition.comparison_plan["design"] == "course_waitlist"
    assert "Wait-listed colleagues drawn at random" in client.get(page).content.decode()
