"""
Success-case selection (Brinkerhoff; issue 16): the extremes worth interviewing, one run's
learners only, never those who asked to be left alone, and an interview sheet to download.
"""
import csv
import io

from django.urls import reverse

from activation_plugin import api
from activation_plugin.models import PromptOptOut
from tests.conftest import NOW
from tests.figures_data import add_evidence, make_windows


def test_the_strongest_activations_and_the_silent_completers_of_this_run(make_definition, course_key, other_run):
    definition = make_definition()
    self_reported = make_windows(definition, 2, state="activated", days=2)
    add_evidence(self_reported)
    supervised = make_windows(definition, 1, state="activated", days=9)
    add_evidence(supervised, strength="supervisor")
    peer_twice = make_windows(definition, 1, state="activated", days=5)
    add_evidence(peer_twice, strength="peer", copies=2)
    silent = make_windows(definition, 3, state="expired")
    answered = make_windows(definition, 1, state="expired")
    add_evidence(answered, status="submitted")
    make_windows(definition, 2, state="expired", arm="holdout")  # never asked: not "no sign of use"
    elsewhere = make_windows(definition, 2, state="activated", course_run=other_run)
    add_evidence(elsewhere, strength="kpi")
    opted_out = make_windows(definition, 1, state="expired")
    PromptOptOut.objects.create(user=opted_out[0].user, definition=None)
    withdrawn = make_windows(definition, 1, state="withdrawn")
    add_evidence(withdrawn, strength="supervisor")

    cases = api.success_cases(definition, course_key, now=NOW)
    assert [window.pk for window in cases["successes"]] == [
        supervised[0].pk, peer_twice[0].pk, self_reported[0].pk, self_reported[1].pk]
    assert {window.pk for window in cases["non_users"]} == {window.pk for window in silent}
    assert api.success_cases(definition, course_key, limit=1, now=NOW)["successes"] == [supervised[0]]


def test_the_page_and_the_interview_sheet(client, make_definition, course_key, course_staff):
    definition = make_definition()
    best = make_windows(definition, 1, state="activated")
    add_evidence(best, strength="staff")
    best[0].user.first_name = "=HYPERLINK(\"x\")"
    best[0].user.save()
    make_windows(definition, 1, state="expired")
    client.force_login(course_staff)
    kwargs = {"course_id": str(course_key), "definition_id": definition.pk}
    page = client.get(reverse("activation_plugin:success_cases", kwargs=kwargs)).content.decode()
    assert f'data-window="{best[0].pk}"' in page
    sheet = b"".join(client.get(reverse("activation_plugin:export_success_cases", kwargs=kwargs)).streaming_content)
    rows = list(csv.reader(io.StringIO(sheet.decode())))
    assert rows[0][:2] == ["case", "window_id"] and rows[0][-2:] == ["interviewed_on", "notes"]
    assert [row[0] for row in rows[1:]] == ["success", "non_user"]
    assert rows[1][3].startswith("'=")  # a spreadsheet shows the name as text instead of running it
