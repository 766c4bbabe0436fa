"""
The portfolio over time (issue 33, with ADR 0016's "The previous day"): for a viewer who cannot see
a course's learners row by row, its figures move as the course page's do, once a day and only when
what ended since would not tell outcomes; and they are cached per viewer and filters until a
course's figures change.
"""
import csv
import io
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from activation_plugin import api
from activation_plugin.api.portfolio import course_standing
from activation_plugin.figures import release
from activation_plugin.platform import ORG_GROUP_PREFIX
from tests.conftest import NOW, api_url, committed
from tests.factories import UserFactory
from tests.figures_data import CLOSED_AT, make_windows
from tests.test_portfolio import in_group, make_course

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def cell_size(settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 5


@pytest.fixture
def two_courses(make_definition):
    """Two AcmeX courses, 10 of 20 and 12 of 30 activated in windows that ended long ago."""
    return [make_course(make_definition, "course-v1:AcmeX+ONE+2026", 10, 10)[0],
            make_course(make_definition, "course-v1:AcmeX+TWO+2026", 12, 18)[0]]


def _row(figures, definition):
    return next(row for row in figures["rows"] if row["definition_id"] == definition.pk)


def _released(figures, definition):
    """What the viewer reads of the course: its row's and its run's ``(eligible, activated)``, and the pooled ones."""
    row = _row(figures, definition)
    [run] = row["runs"]
    return ((row["eligible"], row["activated"]), (run["eligible"], run["activated"]),
            (figures["pooled"]["eligible"], figures["pooled"]["activated"]))


@pytest.mark.parametrize("state", ["expired", "activated"])
def test_yesterdays_portfolio_does_not_give_the_learner_whose_window_ended_since(
        two_courses, client, api_client, state):
    """
    An org lead (no course role: no learner seen row by row) kept yesterday's portfolio; since then one
    learner's window of ONE ended (with or without an activation). Today's row, run and pooled rate
    minus yesterday's would be that learner's 0 or 1 of 1: on REST and in the CSV they stay where
    they were, while global staff, who see every learner row by row anyway, see the window counted.
    """
    one, _two = two_courses
    now = timezone.now()
    make_windows(one, 1, state=state, opened_at=now - timedelta(days=one.window_days + 1))
    lead = in_group(f"{ORG_GROUP_PREFIX}AcmeX", "acme_lead")
    yesterday = _released(api.portfolio(lead, now=now - timedelta(days=1, hours=1)), one)
    assert yesterday == ((20, 10), (20, 10), (50, 22))
    api_client.force_authenticate(lead)
    body = api_client.get(api_url("portfolio")).json()
    assert _released(body, one) == yesterday
    client.force_login(lead)
    rows = list(csv.DictReader(io.StringIO(b"".join(
        client.get(reverse("activation_plugin:portfolio_csv")).streaming_content).decode())))
    [exported] = [row for row in rows if row["definition_id"] == str(one.pk)]
    assert (exported["eligible"], exported["activated"]) == ("20", "10")
    operator = UserFactory(username="operator", is_staff=True)
    assert _released(api.portfolio(operator), one)[0] == (21, 10 + (state == "activated"))


def test_staff_of_a_courses_run_see_it_counted_and_the_others_held(two_courses):
    """Org staff who are also staff of ONE's run see its learner counted; TWO's late learner stays held."""
    one, two = two_courses
    now = timezone.now()
    for definition in two_courses:
        make_windows(definition, 1, opened_at=now - timedelta(days=definition.window_days + 1))
    lead = in_group(f"{ORG_GROUP_PREFIX}AcmeX", "acme_lead")
    in_group(f"activation-staff:{one.course_key}", "acme_lead")
    figures = api.portfolio(lead)
    assert (_row(figures, one)["eligible"], _row(figures, two)["eligible"]) == (21, 30)


def test_the_instructors_standing_is_released_as_to_anyone(two_courses, settings):
    """The standing ranks the org's courses as a viewer who sees none of them row by row."""
    settings.ACTIVATION_PORTFOLIO_STANDING_MIN_COURSES = 2
    one, _two = two_courses
    now = timezone.now()
    before = course_standing(one, own_rate_hidden=False, now=now)
    assert before is not None
    make_windows(one, 1, state="activated", opened_at=now - timedelta(days=one.window_days + 1))
    cache.clear()
    assert course_standing(one, own_rate_hidden=False, now=now) == before


def test_a_new_activation_in_one_course_refreshes_the_cached_portfolio(two_courses):
    """The portfolio is cached; a learner's evidence activating them in ONE's ended window is shown at once."""
    one, _two = two_courses
    window = make_windows(one, 1, opened_at=CLOSED_AT - timedelta(days=1))[0]
    operator = UserFactory(username="operator", is_staff=True)
    assert _row(api.portfolio(operator, now=NOW), one)["activated"] == 10
    assert _row(api.portfolio(operator, now=NOW), one)["activated"] == 10  # from the cache
    with committed():  # the tallies move after commit
        api.record_evidence(window=window, requirement=one.requirements.get(), source="learner",
                            submitted_at=window.opened_at + timedelta(days=2),
                            payload={"url": "https://example.org/project"}, idempotency_key="late")
    assert _row(api.portfolio(operator, now=NOW), one)["activated"] == 11


@pytest.mark.parametrize("viewer", ["operator", "lead"])
def test_a_warm_portfolio_reads_the_same_few_queries_whatever_its_courses(make_definition, viewer):
    """Warm: the viewer's roles, the definitions, the runs they see; never the tallies, whatever the courses."""
    user = UserFactory(username="operator", is_staff=True) if viewer == "operator" else in_group(
        f"{ORG_GROUP_PREFIX}AcmeX", "acme_lead")

    def warm_queries():
        api.portfolio(user, sort="course", now=NOW)
        with CaptureQueriesContext(connection) as queries:
            figures = api.portfolio(user, sort="rate", now=NOW)
        return len(queries), figures

    make_course(make_definition, "course-v1:AcmeX+ONE+2026", 10, 10)
    few, figures = warm_queries()
    for number in range(5):
        make_course(make_definition, f"course-v1:AcmeX+C{number}+2026", 10 + number, 10)
    more, more_figures = warm_queries()
    assert few == more <= 4 and len(figures["rows"]) == 1 and len(more_figures["rows"]) == 6
    rates = [row["rate"] for row in more_figures["rows"]]
    assert rates == sorted(rates, reverse=True)


def test_after_a_write_to_one_course_an_org_leads_portfolio_walks_only_that_course_again(two_courses, monkeypatch):
    """
    Each course's release walk is cached under its version token and the day: a portfolio computed
    again (another moment, nothing of it cached) after ONE changed walks ONE's days alone, and its
    figures are those of a portfolio computed with nothing cached at all.
    """
    one, two = two_courses
    window = make_windows(one, 1, opened_at=CLOSED_AT - timedelta(days=1))[0]
    lead = in_group(f"{ORG_GROUP_PREFIX}AcmeX", "acme_lead")
    walked, walk_many = [], release.walk_many

    def recorded(definitions, *args):
        walked.append(sorted(definition.pk for definition in definitions))
        return walk_many(definitions, *args)

    monkeypatch.setattr(release, "walk_many", recorded)
    api.portfolio(lead, now=NOW)
    api.portfolio(lead, now=NOW + timedelta(seconds=1))
    with committed():  # the tallies move after commit
        api.record_evidence(window=window, requirement=one.requirements.get(), source="learner",
                            submitted_at=window.opened_at + timedelta(days=2),
                            payload={"url": "https://example.org/project"}, idempotency_key="walked")
    figures = api.portfolio(lead, now=NOW + timedelta(seconds=2))
    assert walked == [sorted([one.pk, two.pk]), [one.pk]]
    cache.clear()
    assert api.portfolio(lead, now=NOW + timedelta(seconds=2)) == figures
