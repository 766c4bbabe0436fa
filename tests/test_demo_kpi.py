"""
The demo's KPI data: its stand-in helpdesk API, pulled by the real REST connector over a real
socket, and the handle times the seed pushes, as the instructor sees them on the definition page.
"""
import io

import pytest
from bs4 import BeautifulSoup
from django.core.management import call_command
from django.urls import reverse

from activation_plugin.kpi import pull
from activation_plugin.models import ActivationDefinition, MetricObservation, MetricSource
from demo.management.commands import seed_demo
from demo.management.commands.seed_demo import PASSWORDS, RUNS
from tests.factories import UserFactory


def test_the_demo_helpdesk_is_pulled_page_by_page_and_matched(live_server, settings, transactional_db):
    learner = UserFactory(username="learner001", email="learner001@demo.localhost")
    sources = settings.ACTIVATION_METRIC_SOURCES
    settings.ACTIVATION_METRIC_SOURCES = {
        **sources,
        "demo-helpdesk": {**sources["demo-helpdesk"], "url": f"{live_server.url}/fake-helpdesk/api/tickets/"}}
    result = pull.pull("demo-helpdesk")
    assert result["status"] == "ok" and result["stored"] == MetricObservation.objects.count() > 50
    assert MetricObservation.objects.filter(user=learner).count() == 5
    assert pull.pull("demo-helpdesk")["stored"] == 0
    settings.DEMO_KPI_TOKEN = "rotated"
    failed = pull.pull("demo-helpdesk")
    assert failed["error"] == "HTTP 401 from localhost." and MetricSource.objects.get(name="demo-helpdesk").cursor


@pytest.mark.slow
def test_the_seeded_definition_page_shows_kpi_deltas_and_the_difference_in_differences(client, transactional_db,
                                                                                       settings):
    """Issue 18: no demo definition had a KPI requirement, so the page never showed its KPI figures."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo", stdout=io.StringIO())
    definition = ActivationDefinition.objects.get()
    assert client.login(username="instructor", password=PASSWORDS["instructor"])
    page = client.get(reverse("activation_plugin:definition",
                              kwargs={"course_id": RUNS[1][0], "definition_id": definition.pk}))
    html = BeautifulSoup(page.content, "html.parser")
    table = html.select_one("[data-table=kpi][data-metric=handle_time]")
    activated, not_activated = ([cell.get_text() for cell in row.select("td")] for row in table.select("tbody tr"))
    # Learners, mean before, during the window, change: both groups measured, the activated gain most.
    assert int(activated[0]) >= 5 and int(not_activated[0]) >= 5
    assert float(activated[3]) < float(not_activated[3]) < 0
    reading = html.select_one("[data-figure=kpi-difference]").get_text(" ", strip=True)
    assert reading.startswith("Activated learners' change differs by -") and "(95% interval -" in reading
    did = html.select_one("[data-figure=did]").get_text(" ", strip=True)
    assert did.startswith("Difference-in-differences for Average handle time (seconds), the effect of the follow-up "
                          "(prompted minus holdout mean change, over learners measured in both periods): -")
    assert "(95% interval -" in did
    # Issue 26 §2: the CRM's colleagues who never took the course give the course's own effect.
    course = html.select_one("[data-table=course-effect][data-metric=handle_time]")
    completers, colleagues = ([cell.get_text() for cell in row.select("td")] for row in course.select("tbody tr"))
    assert int(completers[0]) >= 100 and int(colleagues[0]) == seed_demo.COLLEAGUES
    effect = html.select_one("[data-figure=course-effect]").get_text(" ", strip=True)
    assert effect.startswith("Effect of the course on Average handle time (seconds) (observational, not randomised): -")
    assert "(95% interval -" in effect
    # The five ids no learner matches, and the colleagues, whom no learner matches either.
    assert html.select_one("[data-figure=unmatched_identities]").get_text() == str(5 + seed_demo.COLLEAGUES)
