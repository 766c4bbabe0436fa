"""
After "Open windows for past completers" (issue 32, point 6): the definition page says how many
windows opened and when their prompts go out, and draws no empty funnel chart.
"""
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse
from django.utils import timezone, translation

from tests.conftest import PROJECT
from tests.factories import UserFactory
from tests.figures_data import make_windows
from tests.test_backfill import record

pytestmark = pytest.mark.django_db
PROMPTED = {**PROJECT, "prompts": [{"send_after_days": 3, "subject": "Show us", "body": "Go to {link}"}]}


def backfilled_page(client, course_key, course_staff, make_definition, completers, language="en"):
    for number, user in enumerate(UserFactory.create_batch(completers)):
        record(user, course_key, timezone.now() - timedelta(days=number + 1))
    definition = make_definition(activate=False, requirements=[PROMPTED])
    client.force_login(course_staff)
    status_url = reverse("activation_plugin:definition_status",
                         kwargs={"course_id": str(course_key), "definition_id": definition.pk})
    client.post(status_url, {"action": "activate"})
    with translation.override(language):
        page = client.post(status_url, {"action": "backfill"}, follow=True, HTTP_ACCEPT_LANGUAGE=language)
    return BeautifulSoup(page.content, "html.parser")


def text_of(node):
    return " ".join(node.get_text().split())


def test_the_page_says_how_many_windows_opened_and_when_their_prompts_go_out(
        client, course_key, course_staff, make_definition):
    page = backfilled_page(client, course_key, course_staff, make_definition, 12)
    [notice] = page.select('[data-backfilled]')
    assert notice["data-backfilled"] == "12"
    text = text_of(notice)
    assert "12 learners who completed the course before this definition was active now have a window" in text
    assert "dated from their own completion" in text
    assert "Prompts already due go out with the next run of the scheduled task, one message per prompt" in text
    assert "the others on their day" in text


def test_no_funnel_chart_is_drawn_when_every_count_is_hidden(
        client, course_key, other_run, course_staff, make_definition):
    """
    Another run's few ended windows, which this run's staff do not see row by row: every funnel
    count would tell outcomes, so a chart would be an empty 0–1 axis.
    """
    definition = make_definition()
    make_windows(definition, 2, state="activated", course_run=other_run)
    make_windows(definition, 8, state="expired", course_run=other_run)
    client.force_login(course_staff)
    page = BeautifulSoup(client.get(reverse("activation_plugin:definition", kwargs={
        "course_id": str(course_key), "definition_id": definition.pk})).content, "html.parser")
    assert page.select('table[data-table="funnel"] .activation-hidden')  # the table says "hidden"
    assert page.select('canvas[data-chart="funnel"]') == []
    assert "The funnel is not drawn" in text_of(page.select_one('[data-empty="funnel"]'))


def test_the_funnel_is_drawn_when_it_has_counts(client, course_key, course_staff, make_definition):
    page = backfilled_page(client, course_key, course_staff, make_definition, 12)
    assert len(page.select('canvas[data-chart="funnel"]')) == 1 and not page.select('[data-empty="funnel"]')


def test_the_report_is_in_french(client, course_key, course_staff, make_definition):
    page = backfilled_page(client, course_key, course_staff, make_definition, 12, language="fr")
    text = text_of(page.select_one('[data-backfilled]'))
    assert "12 personnes ayant terminé le cours avant l'activation de cette définition ont maintenant une fenêtre" in text  # noqa: E501
