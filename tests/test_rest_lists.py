"""REST API v1: windows and evidence lists (pagination, filters, query counts) and staff reviews."""
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from activation_plugin import api
from activation_plugin.models import ActivationWindow, Review
from tests.conftest import PROJECT, SURVEY, api_url, mint_jwt
from tests.factories import UserFactory, WindowFactory

pytestmark = pytest.mark.django_db

STAFF_PROJECT = {**PROJECT, "verification": "staff"}


url = api_url


@pytest.fixture
def staff_client(jwt_staff_client):
    return jwt_staff_client


def open_for(definition, count, course_key, when):
    learners = [UserFactory() for _ in range(count)]
    for learner in learners:
        api.open_windows(learner.pk, course_key, definition.trigger, when)
    return learners


def submit(window, requirement, key):
    return api.save_learner_response(window=window, requirement=requirement, payload={"text": f"work {key}"},
                                     idempotency_key=key)


def test_windows_are_paginated_newest_first_with_a_bounded_page_size(staff_client, make_definition, course_key,
                                                                     settings):
    definition = make_definition()
    now = timezone.now()
    for day in range(7):
        open_for(definition, 1, course_key, now - timedelta(days=day))
    settings.ACTIVATION_API_MAX_PAGE_SIZE = 3
    first = staff_client.get(url("windows", course_id=course_key), {"page_size": 50}).json()
    assert first["count"] == 7 and len(first["results"]) == 3 and first["previous"] is None
    opened = [item["opened_at"] for item in first["results"]]
    assert opened == sorted(opened, reverse=True)
    last = staff_client.get(first["next"].replace("page=2", "page=3")).json()
    assert len(last["results"]) == 1 and last["next"] is None
    seen = {item["id"] for page in (1, 2, 3) for item in staff_client.get(
        url("windows", course_id=course_key), {"page": page}).json()["results"]}
    assert seen == set(ActivationWindow.objects.values_list("pk", flat=True))
    assert staff_client.get(url("windows", course_id=course_key), {"page": 9}).status_code == 404


def test_windows_filters(staff_client, make_definition, course_key, other_run):
    passing = make_definition(name="On passing", holdout_percent=50, holdout_seed="fixed")
    now = timezone.now()
    open_for(passing, 6, course_key, now - timedelta(days=40))
    recent = open_for(passing, 2, other_run, now - timedelta(days=1))
    certificate = make_definition(name="On certificate", trigger="certificate", supersede=True)
    open_for(certificate, 3, course_key, now - timedelta(days=2))
    api.expire_due_windows(now=now)

    def ids(run=course_key, **params):
        response = staff_client.get(url("windows", course_id=run), {"page_size": 100, **params})
        assert response.status_code == 200, response.json()
        return {item["id"] for item in response.json()["results"]}

    # A run's URL lists that run's learners only: roles are held per run.
    windows = ActivationWindow.objects.filter(course_run=course_key)
    assert ids(definition=certificate.pk) == set(windows.filter(definition=certificate).values_list("pk", flat=True))
    assert ids(state="expired") == set(windows.filter(state="expired").values_list("pk", flat=True)) != set()
    assert ids(arm="holdout") == set(windows.filter(arm="holdout").values_list("pk", flat=True)) != set()
    assert ids(course_run=str(other_run)) == set()
    assert recent and staff_client.get(url("windows", course_id=other_run)).status_code == 403  # not staff there
    assert ids(opened_after=(now - timedelta(days=3)).isoformat()) == set(
        windows.filter(opened_at__gte=now - timedelta(days=3)).values_list("pk", flat=True)) != set()
    assert len(ids(opened_before=(now - timedelta(days=30)).isoformat(), definition=passing.pk)) == 6
    assert ids(definition=2**62) == set()
    for bad in ({"state": "lost"}, {"arm": "both"}, {"course_run": "nope"}, {"opened_after": "yesterday"},
                {"definition": "one"}, {"definition": 2**64}):
        response = staff_client.get(url("windows", course_id=course_key), bad)
        assert response.status_code == 400 and response.json()["field"] in bad, (bad, response.json())


def test_evidence_list_filters_and_shows_reviews(staff_client, make_definition, course_key, course_staff):
    definition = make_definition(requirements=[STAFF_PROJECT, SURVEY])
    project, survey = definition.requirements.all()
    learners = open_for(definition, 3, course_key, timezone.now() - timedelta(days=1))
    windows = {window.user_id: window for window in ActivationWindow.objects.all()}
    evidence = [submit(windows[learner.pk], project, f"p{learner.pk}") for learner in learners]
    api.save_learner_response(window=windows[learners[0].pk], requirement=survey,
                              payload={"answers": {"used": "yes"}}, idempotency_key="s")
    api.review_evidence(evidence[0], verdict="rejected", role="staff", reviewer=course_staff, comment="Too thin")

    def listed(**params):
        return staff_client.get(url("evidence", course_id=course_key), params).json()["results"]

    assert len(listed()) == 4
    assert {item["id"] for item in listed(status="submitted")} == {evidence[1].pk, evidence[2].pk}
    assert [item["requirement_kind"] for item in listed(requirement=survey.pk)] == ["survey"]
    assert len(listed(definition=definition.pk)) == 4 and listed(definition=definition.pk + 1000) == []
    [rejected] = listed(status="rejected")
    assert rejected["reviews"] == [{
        "id": Review.objects.get().pk, "role": "staff", "verdict": "rejected", "score": None, "checklist": {},
        "comment": "Too thin", "reviewer": "teacher", "created": rejected["reviews"][0]["created"]}]
    assert (rejected["username"], rejected["payload"], rejected["has_file"]) == (
        learners[0].username, {"text": f"work p{learners[0].pk}", "url": ""}, False)
    assert staff_client.get(url("evidence", course_id=course_key), {"status": "lost"}).status_code == 400
    detail = staff_client.get(url("evidence_detail", course_id=course_key, evidence_id=evidence[1].pk)).json()
    assert detail["id"] == evidence[1].pk and detail["status"] == "submitted" and detail["file_url"] is None


def test_attachments_are_linked_to_the_page_that_checks_access(staff_client, make_definition, course_key, learner,
                                                               course_staff, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    definition = make_definition(requirements=[STAFF_PROJECT])
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now())
    evidence = api.save_learner_response(window=window, requirement=definition.requirements.get(),
                                         payload={"text": "see file"}, idempotency_key="f",
                                         file=SimpleUploadedFile("notes.txt", b"hello"))
    body = staff_client.get(url("evidence_detail", course_id=course_key, evidence_id=evidence.pk)).json()
    assert body["has_file"] is True
    assert body["file_url"] == "http://testserver" + reverse(
        "activation_plugin:evidence_file", kwargs={"course_id": str(course_key), "evidence_id": evidence.pk})
    staff_client.force_login(course_staff)
    download = staff_client.get(body["file_url"])
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"hello"


def test_staff_review_settles_evidence_and_is_not_recorded_twice(staff_client, make_definition, course_key,
                                                                 course_staff, learner):
    definition = make_definition(requirements=[STAFF_PROJECT])
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=1))
    evidence = submit(window, definition.requirements.get(), "e1")
    reviews = url("evidence_reviews", course_id=course_key, evidence_id=evidence.pk)
    response = staff_client.post(reviews, {"verdict": "verified", "comment": "Convincing"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["review"]["verdict"], body["review"]["reviewer"], body["evidence"]["status"]) == (
        "verified", "teacher", "verified")
    window.refresh_from_db()
    assert window.state == "activated"
    replay = staff_client.post(reviews, {"verdict": "verified", "comment": "Convincing"}, format="json",
                               HTTP_IDEMPOTENCY_KEY="r1")
    assert replay.status_code == 400 and replay.json()["field"] == "reviewer"  # the first had no key
    again = staff_client.post(reviews, {"verdict": "rejected"}, format="json")
    assert again.status_code == 400 and again.json()["field"] == "reviewer"
    assert Review.objects.count() == 1
    for bad, field in (({"verdict": "maybe"}, "verdict"),
                       ({"verdict": "verified", "scores": {"Clear": "many"}}, "scores.Clear"),
                       ({"verdict": "verified", "comment": "x" * 5001}, "comment")):
        refused = staff_client.post(reviews, bad, format="json")
        assert refused.status_code == 400 and refused.json()["field"] == field, refused.json()


def test_evidence_of_another_course_cannot_be_read_or_reviewed(staff_client, make_definition, course_key,
                                                               learner):
    from opaque_keys.edx.keys import CourseKey  # pylint: disable=import-outside-toplevel

    from demo.models import DemoCourse  # pylint: disable=import-outside-toplevel
    elsewhere = CourseKey.from_string("course-v1:OtherX+ELSE+2026")
    DemoCourse.objects.create(course_key=elsewhere, display_name="Else")
    definition = make_definition(course_key=elsewhere, requirements=[STAFF_PROJECT])
    [window] = api.open_windows(learner.pk, elsewhere, "passing", timezone.now())
    foreign = submit(window, definition.requirements.get(), "foreign")
    assert staff_client.get(url("evidence_detail", course_id=course_key, evidence_id=foreign.pk)).status_code == 404
    response = staff_client.post(url("evidence_reviews", course_id=course_key, evidence_id=foreign.pk),
                                 {"verdict": "verified"}, format="json")
    assert response.status_code == 404 and not Review.objects.exists()
    assert staff_client.get(url("evidence", course_id=course_key)).json()["count"] == 0
    assert staff_client.get(url("windows", course_id=course_key)).json()["count"] == 0


@pytest.mark.parametrize("name, rows", [("windows", 5), ("evidence", 5), ("definitions", 5)])
def test_list_endpoints_take_a_constant_number_of_queries(staff_client, make_definition, course_key,
                                                          django_assert_max_num_queries, name, rows):
    """Ten times the rows, the same queries: nothing is fetched per row."""
    def seed(count):
        for _ in range(count):
            definition = make_definition(requirements=[STAFF_PROJECT, SURVEY], supersede=True)
            requirement = definition.requirements.first()
            for window in (WindowFactory(definition=definition) for _ in range(2)):
                submit(window, requirement, f"{window.pk}")
                api.review_evidence(window.evidence.get(), verdict="verified", role="staff",
                                    reviewer=UserFactory())

    seed(rows)
    endpoint = url(name, course_id=course_key)
    with django_assert_max_num_queries(100) as few:
        assert staff_client.get(endpoint, {"page_size": 100}).status_code == 200
    seed(rows * 9)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert staff_client.get(endpoint, {"page_size": 100}).status_code == 200


def test_a_review_replayed_with_its_key_returns_the_first_answer(staff_client, make_definition, course_key, learner):
    definition = make_definition(requirements=[STAFF_PROJECT])
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now())
    evidence = submit(window, definition.requirements.get(), "e2")
    reviews = url("evidence_reviews", course_id=course_key, evidence_id=evidence.pk)
    answers = [staff_client.post(reviews, {"verdict": "rejected", "comment": "Thin"}, format="json",
                                 HTTP_IDEMPOTENCY_KEY="review-1") for _ in range(2)]
    assert [answer.status_code for answer in answers] == [201, 201] and answers[0].json() == answers[1].json()
    assert Review.objects.count() == 1


def test_my_windows_take_a_constant_number_of_queries(api_client, make_definition, course_key, learner,
                                                      django_assert_max_num_queries):
    def seed(count):
        for _ in range(count):
            definition = make_definition(requirements=[STAFF_PROJECT, SURVEY], supersede=True)
            window = WindowFactory(definition=definition, user=learner)
            submit(window, definition.requirements.first(), f"mine{window.pk}")
            api.review_evidence(window.evidence.get(), verdict="verified", role="staff", reviewer=UserFactory())

    api_client.credentials(HTTP_AUTHORIZATION=f"JWT {mint_jwt(learner)}")
    endpoint = url("my_windows", course_id=course_key)
    seed(2)
    with django_assert_max_num_queries(100) as few:
        assert len(api_client.get(endpoint).json()) == 2
    seed(8)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(api_client.get(endpoint).json()) == 10
