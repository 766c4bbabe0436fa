"""
The portfolio (issue 33): figures added up from each definition's tallies, who may see which courses,
suppression of every course row, and the page, CSV and REST endpoint.
"""
import csv
import html
import io
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from opaque_keys.edx.keys import CourseKey
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from activation_plugin import api, platform, portfolio_stats
from activation_plugin.api.portfolio import course_standing
from activation_plugin.errors import NotAllowed
from activation_plugin.models import ActivationDefinition, ActivationWindow
from activation_plugin.platform import ORG_GROUP_PREFIX
from demo.models import DemoCourse
from tests.conftest import NOW, PROJECT, api_url
from tests.factories import UserFactory
from tests.figures_data import CLOSED_AT, add_evidence, make_windows, observe

pytestmark = pytest.mark.django_db

# name: (course run, activated, not activated) among windows that ended.
COURSES = {
    "AcmeX+BIG": ("course-v1:AcmeX+BIG+2026", 60, 140),
    "AcmeX+MID": ("course-v1:AcmeX+MID+2026", 30, 70),
    "AcmeX+GOOD": ("course-v1:AcmeX+GOOD+2026", 70, 50),
    "AcmeX+LUCKY": ("course-v1:AcmeX+LUCKY+2026", 3, 0),
    "OtherU+ELSE": ("course-v1:OtherU+ELSE+2026", 20, 40),
}


def make_course(make_definition, run, activated, not_activated, opened_at=CLOSED_AT, course_run=None):
    key = CourseKey.from_string(run)
    DemoCourse.objects.get_or_create(course_key=key, defaults={"display_name": f"Title of {key.course}"})
    definition = ActivationDefinition.objects.filter(course_key=key).first() if course_run else None
    definition = definition or make_definition(course_key=key, name=f"Applies {key.course}")
    runs = {"course_run": CourseKey.from_string(course_run)} if course_run else {}
    activated_windows = make_windows(definition, activated, state="activated", opened_at=opened_at, **runs) \
        if activated else []
    if not_activated:
        make_windows(definition, not_activated, state="expired", opened_at=opened_at, **runs)
    return definition, activated_windows


@pytest.fixture
def portfolio(make_definition):
    return {name: make_course(make_definition, *spec)[0] for name, spec in COURSES.items()}


@pytest.fixture
def global_staff(db):
    return UserFactory(username="operator", is_staff=True)


def in_group(name, username):
    user = UserFactory(username=username)
    Group.objects.get_or_create(name=name)[0].user_set.add(user)
    return user


def rows_by_course(figures):
    return {row["catalog_course"]: row for row in figures["rows"]}


def test_each_course_row_is_its_tallies_with_the_wilson_interval(portfolio, global_staff):
    figures = api.portfolio(global_staff, now=NOW)
    rows = rows_by_course(figures)
    assert set(rows) == set(COURSES)
    big = rows["AcmeX+BIG"]
    assert (big["completers"], big["eligible"], big["activated"]) == (200, 200, 60)
    assert big["rate"] == pytest.approx(0.3)
    assert big["rate_ci"] == pytest.approx(proportion_confint(60, 200, method="wilson"))
    assert figures["pooled"]["eligible"] == 200 + 100 + 120 + 3 + 60
    assert figures["pooled"]["rate"] == pytest.approx(183 / 483)


def test_shrunken_rates_and_limits_are_the_reference_and_the_lucky_course_is_not_first(
        portfolio, global_staff, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1  # show the 3-of-3 course, to see where it ranks
    figures = api.portfolio(global_staff, now=NOW)
    rows = rows_by_course(figures)
    counts = [(spec[1], spec[1] + spec[2]) for spec in COURSES.values()]
    prior = portfolio_stats.fit_beta_binomial(counts)
    assert figures["prior"]["strength"] == pytest.approx(prior.strength)
    for name, (_run, activated, not_activated) in COURSES.items():
        posterior = sps.beta(prior.alpha + activated, prior.beta + not_activated)
        assert rows[name]["shrunken"] == pytest.approx(posterior.mean())
        assert rows[name]["shrunken_ci"] == pytest.approx(posterior.ppf([0.025, 0.975]), abs=1e-8)
    assert rows["AcmeX+LUCKY"]["rate"] == 1.0
    assert rows["AcmeX+LUCKY"]["rank"] != 1
    assert rows["AcmeX+GOOD"]["rank"] == 1
    assert figures["rows"][0]["catalog_course"] == "AcmeX+GOOD"  # sorted by rank
    # GOOD's 70 of 120 is beyond the 99.8 % limits of the pooled rate at n = 120.
    pooled = 183 / 483
    assert rows["AcmeX+GOOD"]["position"] == "high"
    assert sps.binom.sf(69, 120, pooled) < 0.001
    assert rows["AcmeX+LUCKY"]["position"] == "inside"
    assert [row["catalog_course"] for row in figures["outliers"]] == [
        name for name, row in sorted(rows.items(), key=lambda item: -item[1]["rate"])
        if row["position"] != "inside"]
    for point in figures["limits"]:
        assert point["high_0.998"] == sps.binom.ppf(0.999, point["n"], pooled) / point["n"]


def test_small_courses_are_hidden_with_everything_derived_from_them(portfolio, global_staff):
    """LUCKY (3 of 3) is hidden, and with it the next smallest: the pooled total would tell it."""
    rows = rows_by_course(api.portfolio(global_staff, now=NOW))
    assert rows["AcmeX+LUCKY"]["suppressed"] and rows["OtherU+ELSE"]["suppressed"]
    for name in ("AcmeX+LUCKY", "OtherU+ELSE"):
        row = rows[name]
        assert [row[key] for key in ("eligible", "activated", "rate", "shrunken", "shrunken_ci", "rank", "position",
                                     "change", "runs", "response_rate", "strength_mix")] == [None] * 11
    assert not rows["AcmeX+BIG"]["suppressed"]
    assert sorted(row["rank"] for row in rows.values() if row["rank"]) == [1, 2, 3]


def test_latest_run_against_the_previous_one(make_definition, global_staff):
    definition, _ = make_course(make_definition, "course-v1:AcmeX+RUNS+2025", 20, 80,
                                opened_at=CLOSED_AT - timedelta(days=200))
    make_course(make_definition, "course-v1:AcmeX+RUNS+2025", 45, 55, course_run="course-v1:AcmeX+RUNS+2026")
    make_course(make_definition, "course-v1:AcmeX+OTHER+2026", 30, 70)
    [row] = [row for row in api.portfolio(global_staff, now=NOW)["rows"] if row["definition_id"] == definition.pk]
    assert [run["course_run"] for run in row["runs"]] == ["course-v1:AcmeX+RUNS+2025", "course-v1:AcmeX+RUNS+2026"]
    change = row["change"]
    assert change["difference"] == pytest.approx(0.45 - 0.20)
    assert change["verdict"] == "higher" and change["ci"][0] > 0
    # The period filter keeps only the runs that started in it.
    recent = api.portfolio(global_staff, api.PortfolioFilters(since=date(2026, 1, 1)), now=NOW)
    [row] = [row for row in recent["rows"] if row["definition_id"] == definition.pk]
    assert (row["eligible"], row["activated"], row["change"]) == (100, 45, None)


def test_filters_by_org_course_and_evidence_strength(portfolio, global_staff):
    acme = api.portfolio(global_staff, api.PortfolioFilters(org="AcmeX"), now=NOW)
    assert {row["org"] for row in acme["rows"]} == {"AcmeX"} and acme["orgs"] == ["AcmeX", "OtherU"]
    [only] = api.portfolio(global_staff, api.PortfolioFilters(course="AcmeX+MID"), now=NOW)["rows"]
    assert only["catalog_course"] == "AcmeX+MID"
    windows = list(ActivationWindow.objects.filter(definition=portfolio["AcmeX+BIG"], state="activated")
                   .order_by("pk"))
    add_evidence(windows[:25], strength="supervisor")
    add_evidence(windows[25:], strength="self_report")
    rows = rows_by_course(api.portfolio(global_staff, api.PortfolioFilters(strength="supervisor"), now=NOW))
    assert (rows["AcmeX+BIG"]["activated"], rows["AcmeX+BIG"]["eligible"]) == (25, 200)
    everything = rows_by_course(api.portfolio(global_staff, now=NOW))["AcmeX+BIG"]
    assert everything["strength_mix"]["supervisor"] == pytest.approx(25 / 60)
    assert everything["strength_mix"]["self_report"] == pytest.approx(35 / 60)


def test_who_sees_which_courses(portfolio, settings):
    org_staff = in_group(f"{ORG_GROUP_PREFIX}AcmeX", "acme_lead")
    assert {definition.catalog_course for definition in api.portfolio_definitions(org_staff)} == {
        name for name in COURSES if name.startswith("AcmeX+")}
    assert len(api.portfolio_definitions(UserFactory(username="root", is_staff=True))) == len(COURSES)
    leaders = in_group("learning-leaders", "leader")
    course_staff = in_group("activation-staff:course-v1:AcmeX+BIG+2026", "big_teacher")
    for user in (leaders, course_staff, UserFactory(username="nobody")):
        with pytest.raises(NotAllowed):
            api.portfolio_definitions(user)
    settings.ACTIVATION_PORTFOLIO_GROUP = "learning-leaders"
    assert len(api.portfolio_definitions(leaders)) == len(COURSES)
    with pytest.raises(NotAllowed):
        api.portfolio_definitions(course_staff)


def test_the_standalone_backend_reads_org_roles_from_groups(db):
    user = in_group(f"{ORG_GROUP_PREFIX}AcmeX", "acme")
    Group.objects.create(name=f"{ORG_GROUP_PREFIX}OtherU").user_set.add(user)
    Group.objects.create(name="activation-staff:course-v1:ZedX+A+1").user_set.add(user)
    assert platform.StandaloneBackend().org_roles(user) == {"AcmeX", "OtherU"}
    user.is_active = False
    assert platform.StandaloneBackend().org_roles(user) == set()
    assert platform.portfolio_orgs(user) == set()


def test_only_active_definitions_count(portfolio, global_staff):
    api.archive_definition(portfolio["AcmeX+MID"])
    assert "AcmeX+MID" not in rows_by_course(api.portfolio(global_staff, now=NOW))


def test_the_page_draws_the_funnel_and_lists_the_outliers(client, portfolio, global_staff):
    client.force_login(global_staff)
    response = client.get(reverse("activation_plugin:portfolio"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html and html.count('data-limit="0.95"') == 2 and html.count('data-limit="0.998"') == 2
    assert f'data-definition="{portfolio["AcmeX+GOOD"].pk}" data-position="high"' in html
    assert "Title of GOOD" in html and "shrunken rate pulls" in html
    assert html.count('data-suppressed="true"') == 2


def test_the_page_refuses_outsiders_and_names_a_bad_filter(client, portfolio, global_staff):
    client.force_login(in_group("activation-staff:course-v1:AcmeX+BIG+2026", "teacher"))
    assert client.get(reverse("activation_plugin:portfolio")).status_code == 403
    client.force_login(global_staff)
    response = client.get(reverse("activation_plugin:portfolio"), {"since": "2026-05-01", "until": "2026-01-01"})
    assert response.status_code == 400
    assert "The period must start before it ends." in response.content.decode()
    assert client.get(reverse("activation_plugin:portfolio"), {"strength": "rumour"}).status_code == 400


def test_the_csv_has_a_row_per_course_blank_where_hidden(client, portfolio):
    client.force_login(in_group(f"{ORG_GROUP_PREFIX}AcmeX", "acme_lead"))
    response = client.get(reverse("activation_plugin:portfolio_csv"), {"sort": "course"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["catalog_course"] for row in rows] == sorted(name for name in COURSES if name.startswith("AcmeX"))
    by_course = {row["catalog_course"]: row for row in rows}
    assert by_course["AcmeX+BIG"]["activated"] == "60" and float(by_course["AcmeX+BIG"]["rate"]) == 0.3
    # LUCKY is too small, and MID, the next smallest of this org's, goes with it.
    for name in ("AcmeX+LUCKY", "AcmeX+MID"):
        row = by_course[name]
        assert (row["rate"], row["activated"], row["suppressed"]) == ("", "", "True")


def test_the_rest_endpoint(api_client, portfolio, global_staff):
    assert api_client.get(api_url("portfolio")).status_code == 401
    api_client.force_authenticate(in_group("activation-staff:course-v1:AcmeX+BIG+2026", "teacher"))
    assert api_client.get(api_url("portfolio")).status_code == 403
    api_client.force_authenticate(global_staff)
    body = api_client.get(api_url("portfolio"), {"org": "AcmeX", "sort": "-rate"}).json()
    # "-rate" reverses the default (highest first); hidden rows come last whatever the order.
    assert [row["rate"] for row in body["rows"]] == [0.3, 70 / 120, None, None]
    # Within AcmeX alone (163 of 423), BIG's 30 % of 200 is low too.
    assert body["outliers"] == [portfolio["AcmeX+GOOD"].pk, portfolio["AcmeX+BIG"].pk]
    assert body["pooled"]["eligible"] == 423 and body["prior"]["strength"] > 0
    assert [row["value"] for row in body["segments"]["enrollment_mode"]] == [""]
    bad = api_client.get(api_url("portfolio"), {"sort": "luck"})
    assert bad.status_code == 400 and bad.json()["field"] == "sort"


def test_the_page_is_in_french(client, portfolio, global_staff):
    client.force_login(global_staff)
    page = html.unescape(client.get(reverse("activation_plugin:portfolio"), HTTP_ACCEPT_LANGUAGE="fr").content.decode())
    for text in ("Portefeuille d'activation", "Quels cours se distinguent\u00a0?", "Un classement sans effet de chance",
                 "Taux resserré (intervalle à 95\u00a0%)"):
        assert text in page


def test_the_header_links_to_the_portfolio_for_those_who_may_see_it(client, course_key, make_definition,
                                                                    global_staff):
    make_definition()
    page = reverse("activation_plugin:instructor", kwargs={"course_id": str(course_key)})
    link = f'href="{reverse("activation_plugin:portfolio")}"'
    client.force_login(global_staff)
    assert link in client.get(page).content.decode()
    client.force_login(in_group(f"activation-staff:{course_key}", "teacher"))
    assert link not in client.get(page).content.decode()


@pytest.mark.parametrize("params", [{"org": "Acme\x00X"}, {"course": "x" * 300}, {"since": "2026-02-30"},
                                    {"until": "yesterday"}, {"sort": "-"}, {"strength": ""}])
def test_hostile_filters_are_refused_or_ignored_never_an_error(client, api_client, portfolio, global_staff, params):
    client.force_login(global_staff)
    api_client.force_authenticate(global_staff)
    page = client.get(reverse("activation_plugin:portfolio"), params).status_code
    rest = api_client.get(api_url("portfolio"), params).status_code
    assert (page, rest) == ((200, 200) if params == {"strength": ""} else (400, 400))


def test_the_portfolio_reads_a_few_queries_per_course_whatever_its_windows(portfolio, global_staff,
                                                                           django_assert_max_num_queries):
    """From the tallies: the queries grow with the courses, not with their windows (486 here)."""
    with django_assert_max_num_queries(4 + 6 * len(COURSES)):
        api.portfolio(global_staff, now=NOW)


def test_the_tables_headers_sort_by_their_column_keeping_the_filters(client, portfolio, global_staff):
    client.force_login(global_staff)
    html = client.get(reverse("activation_plugin:portfolio"), {"org": "AcmeX", "sort": "rate"}).content.decode()
    assert 'href="?org=AcmeX&amp;sort=eligible"' in html
    assert '<th scope="col" aria-sort="descending"><a href="?org=AcmeX&amp;sort=rate">' in html
    rows = [line for line in html.splitlines() if "<tr data-definition=" in line]
    good, big = portfolio["AcmeX+GOOD"].pk, portfolio["AcmeX+BIG"].pk
    assert rows.index(f'        <tr data-definition="{good}">') < rows.index(f'        <tr data-definition="{big}">')


def test_segments_are_pooled_across_the_courses_shown(make_definition, global_staff):
    verified, _ = make_course(make_definition, "course-v1:AcmeX+SEG+2026", 0, 0)
    other, _ = make_course(make_definition, "course-v1:AcmeX+SEG2+2026", 0, 0)
    for definition, (good, bad) in ((verified, (12, 8)), (other, (9, 21))):
        make_windows(definition, good, state="activated", enrollment_mode="verified")
        make_windows(definition, bad, state="expired", enrollment_mode="verified")
        make_windows(definition, 6, state="activated", enrollment_mode="audit")
        make_windows(definition, 14, state="expired", enrollment_mode="audit")
    figures = api.portfolio(global_staff, now=NOW)
    modes = {row["value"]: row for row in figures["segments"]["enrollment_mode"]}
    assert (modes["verified"]["activated"], modes["verified"]["eligible"]) == (21, 50)
    assert (modes["audit"]["activated"], modes["audit"]["eligible"]) == (12, 40)
    assert modes["audit"]["rate_ci"] == pytest.approx(proportion_confint(12, 40, method="wilson"))


def test_the_portfolio_reads_the_same_few_queries_whatever_its_number_of_courses(make_definition, global_staff):
    """One grouped read of the tallies for every course: twice the courses, the same queries."""
    def queries():
        with CaptureQueriesContext(connection) as captured:
            api.portfolio(global_staff, now=NOW)
        return len(captured)

    for number in range(3):
        make_course(make_definition, f"course-v1:AcmeX+Q{number}+2026", 10 + number, 20)
    three = queries()
    for number in range(3, 6):
        make_course(make_definition, f"course-v1:AcmeX+Q{number}+2026", 10 + number, 20)
    assert queries() == three


CSAT = {"kind": "metric", "title": "CSAT up",
        "config": {"metric": "csat", "threshold": 4.0, "direction": "higher", "baseline_days": 20}}


def test_the_kpi_column_is_the_course_page_s_kpi_figure_or_a_dash(client, api_client, global_staff, make_definition):
    """A course with a KPI requirement shows its activated-minus-not figure; the others a dash; none with a period."""
    make_course(make_definition, *COURSES["AcmeX+BIG"])
    key = CourseKey.from_string("course-v1:AcmeX+KPI+2026")
    DemoCourse.objects.create(course_key=key, display_name="Title of KPI")
    definition = make_definition(course_key=key, requirements=[PROJECT, CSAT], rule="any")
    for state, deltas in (("activated", [1, 2, 3, 4, 5, 6]), ("expired", [0, 1, -1, 0.5, 0, 2, 1, 0])):
        for window, delta in zip(make_windows(definition, len(deltas), state=state), deltas):
            observe(window.user, "csat", window.opened_at - timedelta(days=5), 10.0)
            observe(window.user, "csat", window.opened_at + timedelta(days=5), 10.0 + delta)
    [expected] = api.kpi_deltas(definition, now=NOW)
    rows = rows_by_course(api.portfolio(global_staff, now=NOW))
    kpi = rows["AcmeX+KPI"]["kpi"]
    assert (kpi["metric"], kpi["suppressed"]) == ("csat", False)
    assert (kpi["difference"], kpi["ci"]) == (pytest.approx(expected["difference"]), pytest.approx(expected["ci"]))
    assert rows["AcmeX+BIG"]["kpi"] is None
    assert rows_by_course(api.portfolio(global_staff, api.PortfolioFilters(since=date(2025, 1, 1)), now=NOW))[
        "AcmeX+KPI"]["kpi"] is None  # not kept by run

    client.force_login(global_staff)
    page = client.get(reverse("activation_plugin:portfolio"), {"course": "AcmeX+KPI"}).content.decode()
    assert f'<td data-cell="kpi">csat {expected["difference"]:+.2f}' in page
    csv_rows = list(csv.DictReader(io.StringIO(b"".join(client.get(
        reverse("activation_plugin:portfolio_csv"), {"org": "AcmeX"}).streaming_content).decode())))
    by_course = {row["catalog_course"]: row for row in csv_rows}
    assert by_course["AcmeX+KPI"]["kpi_metric"] == "csat"
    assert float(by_course["AcmeX+KPI"]["kpi_low"]) == pytest.approx(expected["ci"][0])
    assert by_course["AcmeX+BIG"]["kpi_difference"] == ""
    api_client.force_authenticate(global_staff)
    body = api_client.get(api_url("portfolio"), {"course": "AcmeX+KPI"}).json()
    assert body["rows"][0]["kpi"]["difference"] == pytest.approx(expected["difference"])


# An org of seven courses: LUCKY hidden (3 of 3), and with it the smallest, A; five ranked.
STANDING = {"A": (20, 70), "B": (30, 90), "C": (60, 60), "D": (45, 105), "E": (100, 60), "F": (40, 140),
            "LUCKY": (3, 0)}


@pytest.fixture
def org_of_seven(make_definition):
    courses = {name: make_course(make_definition, f"course-v1:AcmeX+{name}+2026", *counts)[0]
               for name, counts in STANDING.items()}
    make_course(make_definition, "course-v1:OtherU+ELSE+2026", 200, 10)  # another org's: not compared
    return courses


def test_the_instructor_sees_where_their_course_stands_in_its_org(client, org_of_seven, global_staff, settings):
    acme = rows_by_course(api.portfolio(global_staff, api.PortfolioFilters(org="AcmeX"), now=NOW))
    ranked = [row for row in acme.values() if row["rank"]]
    assert len(ranked) == 5 and acme["AcmeX+A"]["suppressed"] and acme["AcmeX+LUCKY"]["suppressed"]
    own = acme["AcmeX+D"]
    standing = course_standing(org_of_seven["D"], own_rate_hidden=False, now=NOW)
    assert (standing["org"], standing["rank"], standing["of"]) == ("AcmeX", 3, 5)
    assert (standing["shrunken"], standing["shrunken_ci"]) == (own["shrunken"], own["shrunken_ci"])
    above = sum(row["shrunken_ci"][0] > own["shrunken_ci"][1] for row in ranked)
    below = sum(row["shrunken_ci"][1] < own["shrunken_ci"][0] for row in ranked)
    assert standing["rank_range"] == (1 + above, 5 - below) and above >= 1  # E is surely above D
    pooled = sum(counts[0] for counts in STANDING.values()) / sum(sum(counts) for counts in STANDING.values())
    assert standing["prior"]["rate"] == pytest.approx(pooled)

    teacher = in_group("activation-staff:course-v1:AcmeX+D+2026", "d_teacher")
    client.force_login(teacher)
    page = reverse("activation_plugin:definition", kwargs={"course_id": "course-v1:AcmeX+D+2026",
                                                           "definition_id": org_of_seven["D"].pk})
    html = client.get(page).content.decode()
    assert 'data-figure="standing" data-rank="3" data-of="5"' in html
    assert "In AcmeX's portfolio this course ranks 3 of 5 courses" in html

    # Not released: the course's own rate hidden from the viewer, a course the portfolio hides,
    # or fewer ranked courses than the threshold.
    assert course_standing(org_of_seven["D"], own_rate_hidden=True, now=NOW) is None
    assert course_standing(org_of_seven["A"], own_rate_hidden=False, now=NOW) is None
    settings.ACTIVATION_PORTFOLIO_STANDING_MIN_COURSES = 6
    assert course_standing(org_of_seven["D"], own_rate_hidden=False, now=NOW) is None
    assert 'data-figure="standing"' not in client.get(page).content.decode()


@pytest.mark.parametrize("latest_run, hidden", [((4, 0), True), ((40, 20), False)])
def test_a_period_cannot_give_a_hidden_run_back_by_difference(make_definition, global_staff, latest_run, hidden):
    """
    The whole course (29 learners, 14 activated) less its 2025 run (25, 10) told that each of the 4
    learners of the 2026 run activated, a run the course's row hides. A period that leaves learners
    out is hidden while a run is; with every run shown it tells nothing new.
    """
    definition, _ = make_course(make_definition, "course-v1:AcmeX+RUNS+2025", 10, 15,
                                opened_at=CLOSED_AT - timedelta(days=200))
    make_course(make_definition, "course-v1:AcmeX+RUNS+2025", *latest_run, course_run="course-v1:AcmeX+RUNS+2026")
    for spec in (COURSES["AcmeX+MID"], COURSES["AcmeX+GOOD"]):
        make_course(make_definition, *spec)

    def row(**period):
        return next(row for row in api.portfolio(global_staff, api.PortfolioFilters(**period), now=NOW)["rows"]
                    if row["definition_id"] == definition.pk)

    assert row()["eligible"] == 25 + sum(latest_run)  # every run: nothing left out
    assert row(since=date(2025, 1, 1))["eligible"] == 25 + sum(latest_run)
    earlier = row(until=date(2026, 1, 1))
    assert earlier["suppressed"] is hidden and earlier["eligible"] == (None if hidden else 25)
