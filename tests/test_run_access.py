"""
Roles are per course run, and a CCX is a run of its own: staff of one run, or a CCX's coach, see
and change only their run's learners, though a definition spans every run of the catalog course.
(Issue 15, hole 1: staff of T1 listed, downloaded and verified T2's learners through T1's URL.)
"""
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from opaque_keys.edx.keys import CourseKey

from activation_plugin import api
from activation_plugin.errors import NotAllowed
from activation_plugin.models import Evidence, EvidenceRequirement
from demo.models import DemoCourse
from tests.conftest import api_url
from tests.factories import UserFactory

STAFF_PROJECT = {"kind": "project", "title": "Applied project", "verification": "staff",
                 "config": {"instructions": "Show your work."}}


@pytest.fixture
def runs(course_key, other_run, make_definition, settings, tmp_path):
    """One definition; two learners in T1, two in T2, two in a CCX of T1; each submitted a file."""
    settings.MEDIA_ROOT = str(tmp_path)
    ccx = CourseKey.from_string(f"ccx-v1:{course_key.org}+{course_key.course}+{course_key.run}+ccx@1")
    DemoCourse.objects.create(course_key=ccx, display_name="Night CCX")
    definition = make_definition(requirements=[STAFF_PROJECT])
    requirement = EvidenceRequirement.objects.get(definition=definition)
    learners = {}
    for run in (course_key, other_run, ccx):
        for number in range(2):
            learner = UserFactory()
            [window] = api.open_windows(learner.pk, run, "passing", timezone.now() - timedelta(days=1))
            evidence = api.record_evidence(window=window, requirement=requirement, source="learner",
                                           payload={"text": f"work of {learner.username}", "file_name": "w.txt"},
                                           idempotency_key=f"{run}-{number}")
            evidence.file.save("w.txt", ContentFile(b"private"), save=True)
            learners.setdefault(run, []).append((learner, evidence))
    return {"definition": definition, "ccx": ccx, "learners": learners}


def staff_of(run):
    user = UserFactory()
    Group.objects.get_or_create(name=f"activation-staff:{run}")[0].user_set.add(user)
    return user


def listed(client, run, name):
    response = client.get(api_url(name, course_id=run), {"page_size": 100})
    assert response.status_code == 200, response.content
    return {item["user_id"] for item in response.json()["results"]}


def test_staff_of_one_run_list_only_that_runs_learners(client, runs, course_key, other_run):
    client.force_login(staff_of(course_key))
    t1 = {learner.pk for learner, _evidence in runs["learners"][course_key]}
    assert listed(client, course_key, "windows") == t1
    assert listed(client, course_key, "evidence") == t1
    assert client.get(api_url("windows", course_id=other_run)).status_code == 403


def test_staff_of_one_run_cannot_read_download_or_verify_another_runs_evidence(client, runs, course_key, other_run):
    client.force_login(staff_of(course_key))
    _learner, foreign = runs["learners"][other_run][0]
    assert client.get(api_url("evidence_detail", course_id=course_key, evidence_id=foreign.pk)).status_code == 404
    file_url = reverse("activation_plugin:evidence_file",
                       kwargs={"course_id": str(course_key), "evidence_id": foreign.pk})
    assert client.get(file_url).status_code == 404
    response = client.post(api_url("evidence_reviews", course_id=course_key, evidence_id=foreign.pk),
                           {"verdict": "verified"}, content_type="application/json")
    assert response.status_code == 404
    page = reverse("activation_plugin:review", kwargs={"course_id": str(course_key), "evidence_id": foreign.pk})
    assert client.post(page, {"verdict": "verified"}).status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == Evidence.Status.SUBMITTED and not foreign.reviews.exists()
    queue = client.get(reverse("activation_plugin:review_queue", kwargs={"course_id": str(course_key)}))
    assert f'work of {runs["learners"][other_run][0][0].username}' not in queue.content.decode()
    assert f'work of {runs["learners"][course_key][0][0].username}' in queue.content.decode()


def test_exports_hold_only_the_runs_learners(client, runs, course_key):
    client.force_login(staff_of(course_key))
    kwargs = {"course_id": str(course_key), "definition_id": runs["definition"].pk}
    t1 = {str(learner.pk) for learner, _evidence in runs["learners"][course_key]}
    for name in ("export_windows", "export_evidence"):
        rows = b"".join(client.get(reverse(f"activation_plugin:{name}", kwargs=kwargs)).streaming_content)
        header, *lines = rows.decode().splitlines()
        column = header.split(",").index("user_id")
        assert {line.split(",")[column] for line in lines} == t1, name


def test_a_ccx_coach_sees_the_ccx_and_not_the_master_course(client, runs, course_key):
    ccx = runs["ccx"]
    client.force_login(staff_of(ccx))
    assert listed(client, ccx, "windows") == {learner.pk for learner, _evidence in runs["learners"][ccx]}
    assert client.get(api_url("windows", course_id=course_key)).status_code == 403
    _learner, master_evidence = runs["learners"][course_key][0]
    file_url = reverse("activation_plugin:evidence_file",
                       kwargs={"course_id": str(ccx), "evidence_id": master_evidence.pk})
    assert client.get(file_url).status_code == 404


def test_a_learner_still_downloads_their_own_file_from_their_run(client, runs, other_run):
    learner, evidence = runs["learners"][other_run][0]
    client.force_login(learner)
    file_url = reverse("activation_plugin:evidence_file",
                       kwargs={"course_id": str(other_run), "evidence_id": evidence.pk})
    response = client.get(file_url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"private"


def test_a_definition_is_configured_by_the_team_of_the_run_that_owns_it(client, runs, course_key, other_run):
    """Staff of T2 read T1's definition, which spans their run, and change nothing in it."""
    definition = runs["definition"]
    client.force_login(staff_of(other_run))
    page = client.get(reverse("activation_plugin:definition",
                              kwargs={"course_id": str(other_run), "definition_id": definition.pk}))
    assert page.status_code == 200 and b'data-notice="read-only"' in page.content
    assert f"course team of {course_key.run}, where".encode() in page.content  # the run's name, not its key
    assert b"/edit/" not in page.content and b'value="archive"' not in page.content
    status = reverse("activation_plugin:definition_status",
                     kwargs={"course_id": str(other_run), "definition_id": definition.pk})
    assert client.post(status, {"action": "archive"}).status_code == 403
    api_archive = client.post(api_url("definition_archive", course_id=other_run, definition_id=definition.pk))
    assert api_archive.status_code == 403 and str(course_key) in api_archive.json()["message"]
    definition.refresh_from_db()
    assert definition.status == "active"
    # Their own definition is theirs to configure, and it spans T1 as well.
    created = client.post(api_url("definitions", course_id=other_run),
                          {"name": "T2's", "behavior": "b", "window_days": 30}, content_type="application/json")
    assert created.status_code == 201 and created.json()["course_id"] == str(other_run)
    client.force_login(staff_of(course_key))
    assert client.get(reverse("activation_plugin:definition", kwargs={
        "course_id": str(course_key), "definition_id": definition.pk})).content.count(b'data-notice="read-only"') == 0


def test_a_ccx_coach_configures_no_definition(client, runs):
    client.force_login(staff_of(runs["ccx"]))
    created = client.post(api_url("definitions", course_id=runs["ccx"]),
                          {"name": "Mine", "behavior": "b", "window_days": 30}, content_type="application/json")
    assert created.status_code == 403 and "master course" in created.json()["message"]
    new = client.get(reverse("activation_plugin:definition_new", kwargs={"course_id": str(runs["ccx"])}))
    assert new.status_code == 403
    tab = client.get(reverse("activation_plugin:instructor", kwargs={"course_id": str(runs["ccx"])}))
    assert tab.status_code == 200 and b"/definitions/new/" not in tab.content
    with pytest.raises(NotAllowed, match="master course"):
        api.create_definition(course_key=runs["ccx"], name="n", behavior="b", window_days=30)
