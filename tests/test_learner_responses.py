"""The learner's own responses: one per requirement, editable while honest, files within limits."""
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from activation_plugin import api
from activation_plugin.errors import ActivationRequestError
from activation_plugin.models import Evidence, SupervisorInvite
from tests.conftest import OBSERVATION, PROJECT, SURVEY, committed
from tests.factories import UserFactory

STAFF_PROJECT = {**PROJECT, "verification": "staff"}


@pytest.fixture
def open_window(make_definition, learner, course_key):
    def make(*requirements, days_ago=1, window_days=30):
        make_definition(requirements=list(requirements), window_days=window_days)
        [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=days_ago))
        return window
    return make


def save(window, kind_index=0, key="k1", file=None, **payload):
    requirement = list(window.definition.requirements.all())[kind_index]
    return api.save_learner_response(window=window, requirement=requirement, payload=payload,
                                     idempotency_key=key, file=file)


def test_project_is_edited_in_place_until_reviewed(open_window, staff_user):
    window = open_window(STAFF_PROJECT)
    first = save(window, text="draft")
    edited = save(window, key="k2", text="final", url="https://example.org/final")
    assert edited.pk == first.pk and Evidence.objects.count() == 1
    assert edited.payload == {"url": "https://example.org/final", "text": "final"}
    api.review_evidence(edited, verdict="rejected", role="staff", reviewer=staff_user, comment="More detail")
    resubmitted = save(window, key="k3", text="more detail")
    assert resubmitted.pk != first.pk and resubmitted.status == "submitted"
    api.review_evidence(resubmitted, verdict="verified", role="staff", reviewer=staff_user)
    with pytest.raises(ActivationRequestError, match="already reviewed"):
        save(window, key="k4", text="sneaky change")
    assert Evidence.objects.get(pk=resubmitted.pk).payload["text"] == "more detail"


def test_survey_answer_is_edited_until_the_window_closes_without_moving_activation(open_window):
    window = open_window(SURVEY)
    first = save(window, answers={"used": "no"})
    window.refresh_from_db()
    activated_at = window.activated_at
    second = save(window, key="k2", answers={"used": "yes", "how": "daily"})
    window.refresh_from_db()
    assert second.pk == first.pk and second.payload["answers"] == {"used": "yes", "how": "daily"}
    assert window.activated_at == activated_at


def test_closed_window_refuses_edits(open_window):
    window = open_window(SURVEY, days_ago=40)
    with pytest.raises(ActivationRequestError, match="between"):
        save(window, answers={"used": "yes"})
    assert not Evidence.objects.exists()


def test_supervisor_requirements_are_not_answered_by_the_learner(open_window):
    window = open_window(OBSERVATION)
    with pytest.raises(ActivationRequestError, match="not answered by the learner"):
        save(window, observed={"Greets": True, "Resolves": True})


@pytest.mark.parametrize("name, size, message", [
    ("virus.exe", 10, "not accepted"),
    ("notes", 10, "not accepted"),
    ("big.pdf", 3 * 1024 * 1024 + 1, "larger than 3 MB"),
])
def test_files_outside_the_limits_are_refused(open_window, settings, name, size, message):
    settings.ACTIVATION_EVIDENCE_MAX_FILE_MB = 3
    window = open_window(PROJECT)
    with pytest.raises(ActivationRequestError, match=message):
        save(window, file=SimpleUploadedFile(name, b"x" * size), text="see file")
    assert not Evidence.objects.exists()


def test_accepted_file_is_stored_under_a_generated_name(open_window, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    window = open_window(PROJECT)
    evidence = save(window, file=SimpleUploadedFile("../../etc/My Call.PDF", b"%PDF-1.4"))
    assert evidence.payload["file_name"] == "My Call.PDF"
    assert evidence.file.name.startswith("activation/evidence/") and "Call" not in evidence.file.name
    assert (tmp_path / evidence.file.name).read_bytes() == b"%PDF-1.4"


def test_survey_form_posts_are_typed_and_checked(client, open_window, learner, course_key):
    questions = [*SURVEY["config"]["questions"], {"id": "calls", "type": "number", "text": "Calls"}]
    window = open_window({**SURVEY, "config": {**SURVEY["config"], "questions": questions}})
    requirement = window.definition.requirements.get()
    client.force_login(learner)
    url = reverse("activation_plugin:submit_evidence", kwargs={
        "course_id": str(course_key), "window_id": window.pk, "requirement_id": requirement.pk})
    page = client.post(url, {"q-used": "yes", "q-calls": "twelve", "submission_key": "a"}, follow=True)
    assert b"Question &#x27;Calls&#x27;: enter a number." in page.content
    assert not Evidence.objects.exists()
    client.post(url, {"q-used": "yes", "q-calls": "12.5", "submission_key": "b"})
    assert Evidence.objects.get().payload == {"answers": {"used": "yes", "calls": 12.5}}


def test_learner_withdraws_consent_and_leaves_every_figure(client, make_definition, learner, course_key, settings,
                                                           tmp_path):
    settings.ACTIVATION_MIN_CELL_SIZE = 1  # one learner's figures, shown
    settings.MEDIA_ROOT = str(tmp_path)
    definition = make_definition(window_days=30)
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=2))
    with committed():
        api.record_evidence(window=window, requirement=definition.requirements.get(), source="learner",
                            payload={"text": "my story"}, idempotency_key="w1", submitted_at=timezone.now())
    evidence = Evidence.objects.get()
    evidence.file.save("notes.txt", ContentFile(b"private"))
    stored = evidence.file.name
    assert api.summarize(definition)["open_activated"] == 1  # a running window: not in the rate yet
    SupervisorInvite.objects.create(window=window, requirement=definition.requirements.get(), email="boss@example.com",
                                    nonce="n1", expires_at=timezone.now() + timedelta(days=3))
    client.force_login(learner)
    url = reverse("activation_plugin:withdraw", kwargs={"course_id": str(course_key), "window_id": window.pk})
    response = client.post(url, follow=True)
    assert "You withdrew from this follow-up." in response.content.decode()
    window.refresh_from_db()
    evidence.refresh_from_db()
    assert (window.state, window.next_action_at, evidence.payload, bool(evidence.file)) == (
        "withdrawn", None, {}, False)
    assert not evidence.file.storage.exists(stored)
    assert SupervisorInvite.objects.get().revoked_at is not None
    summary = api.summarize(definition)
    assert (summary["completers"], summary["activated"], summary["open_activated"]) == (0, 0, 0)
    assert client.post(url).status_code == 302  # idempotent
    with pytest.raises(ActivationRequestError, match="withdrawn"):
        api.record_evidence(window=window, requirement=definition.requirements.get(), source="learner",
                            payload={"text": "again"}, idempotency_key="w2", submitted_at=timezone.now())


def test_nobody_withdraws_someone_elses_window(client, make_definition, learner, course_key):
    make_definition()
    other = UserFactory()
    [window] = api.open_windows(other.pk, course_key, "passing", timezone.now())
    client.force_login(learner)
    url = reverse("activation_plugin:withdraw", kwargs={"course_id": str(course_key), "window_id": window.pk})
    assert client.post(url).status_code == 404
    assert client.get(url).status_code == 405
    window.refresh_from_db()
    assert window.state == "open"


USED_SURVEY = {**SURVEY, "config": {**SURVEY["config"], "activation_condition": {
    "match": "all", "answers": [{"question": "used", "options": ["yes"]}]}}}


def test_editing_a_survey_answer_to_meet_the_condition_activates_it_and_back(open_window):
    window = open_window(USED_SURVEY, days_ago=5)
    first = save(window, answers={"used": "no"})
    window.refresh_from_db()
    assert (first.status, window.state) == ("not_met", "open")
    met = save(window, key="k2", answers={"used": "yes", "how": "daily"})
    window.refresh_from_db()
    assert (met.pk, met.status, met.strength, window.state) == (first.pk, "verified", "self_report", "activated")
    # dated by the answer that reported the use, not by the first "no"
    assert window.activated_at == met.submitted_at > first.submitted_at and window.days_to_activation == 5
    unmet = save(window, key="k3", answers={"used": "no"})
    window.refresh_from_db()
    assert (unmet.status, unmet.strength, unmet.verified_at, window.state, window.activated_at) == (
        "not_met", "", None, "open", None)


def test_taking_back_an_answer_that_met_the_condition_brings_the_reminders_back(open_window):
    """A "Not yet" after a "yes" is the same "Not yet" as a first one: the reminders go on (messaging)."""
    prompted = {**USED_SURVEY, "prompts": [{"send_after_days": 0, "reminder_days": [3], "subject": "How did it go?",
                                            "body": "Tell us: {link}"}]}
    window = open_window(prompted, days_ago=5)
    api.tick(now=window.opened_at + timedelta(hours=1))
    save(window, answers={"used": "yes", "how": "daily"})
    save(window, key="k2", answers={"used": "no"})
    window.refresh_from_db()
    assert window.state == "open"
    api.tick(now=timezone.now() + timedelta(minutes=1))
    assert list(window.deliveries.values_list("kind", "status").order_by("pk")) == [
        ("prompt", "sent"), ("reminder", "sent")]
