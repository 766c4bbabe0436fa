"""
Every URL of the plugin × every kind of user: the status each gets, asserted; and every POST
refused without Django's CSRF token, even from a user who may post there, while the same POST
with the token goes through (so the refusal is the token check, not a permission).

The matrix must name every URL pattern in the ``activation_plugin`` namespace (a test checks), so
a new page or endpoint cannot ship without its row. Ids in URLs always belong to the course in the
URL here; ``test_ids_from_another_course_are_not_found`` covers the cross-course (IDOR) case.
"""
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import get_resolver, reverse
from django.utils import timezone
from opaque_keys.edx.keys import CourseKey

from activation_plugin import api, links
from activation_plugin.models import (
    ActivationDefinition,
    ActivationWindow,
    Evidence,
    PromptOptOut,
    Review,
    SupervisorInvite,
)
from activation_plugin.platform import INSTRUCTOR_GROUP_PREFIX, STAFF_GROUP_PREFIX
from demo.models import DemoCourse
from tests.conftest import OBSERVATION, PROJECT
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "learner", "other_learner", "other_staff", "course_staff", "course_instructor", "global_staff",
         "other_run_staff", "ccx_coach")
OTHER_COURSE = "course-v1:OtherX+ELSE+2026"
# Roles held on another run of the same catalog course, or on a CCX of this run: they use their own
# run's key in every URL (the definition spans it), with this run's ids.
OTHER_RUN = "course-v1:TestX+APPLY+2027"
CCX = "ccx-v1:TestX+APPLY+2026+ccx@1"
RUN_OF_ROLE = {"other_run_staff": OTHER_RUN, "ccx_coach": CCX}
# What a role on another run (or a CCX) may not reach through its own key: this run's learners'
# objects do not exist there (404), and the definition is configured by the run that owns it (403).
NOT_THIS_RUNS_LEARNERS = {"other_run_staff": 404, "ccx_coach": 404}
OWNED_BY_THIS_RUN = {"other_run_staff": 403, "ccx_coach": 403}


def staff_only(ok=200, anonymous=302):
    """
    Course staff, instructors and global staff get ``ok``, and so does staff of another run or a
    CCX through its own key; signed-in others 403; anonymous the login page.
    """
    return {"anonymous": anonymous, "learner": 403, "other_learner": 403, "other_staff": 403,
            "course_staff": ok, "course_instructor": ok, "global_staff": ok, "other_run_staff": ok, "ccx_coach": ok}


def signed_in(ok=200, anonymous=302):
    return {role: anonymous if role == "anonymous" else ok for role in ROLES}


def everyone(status):
    return {role: status for role in ROLES}


def own_window_only(ok=302):
    """Only the learner whose window it is may act on it; for anyone else it does not exist."""
    return {role: 302 if role == "anonymous" else (ok if role == "learner" else 404) for role in ROLES}


# name: (method, kwargs from the world, POST data, expected status per role)
MATRIX = {
    "instructor": ("get", lambda w: w.course, {}, staff_only()),
    # Another run's staff create definitions owned by their run; a CCX follows its master course's.
    "definition_new": ("get", lambda w: w.course, {}, staff_only() | {"ccx_coach": 403}),
    "definition": ("get", lambda w: w.course | w.definition, {}, staff_only()),
    "definition_edit": ("get", lambda w: w.course | w.definition, {}, staff_only() | OWNED_BY_THIS_RUN),
    "definition_preview": ("get", lambda w: w.course | w.definition, {}, staff_only()),
    "definition_plan": ("post", lambda w: w.course | w.definition,
                        {"hypothesis": "h", "primary_figure": "rate", "sample_size": "40", "end_date": "2099-01-01"},
                        staff_only(302) | OWNED_BY_THIS_RUN),
    "definition_status": ("post", lambda w: w.course | w.definition, {"action": "archive"},
                          staff_only(302) | OWNED_BY_THIS_RUN),
    # A project has no activation condition: staff get past the permission check to the api's refusal.
    "set_condition": ("post", lambda w: w.course | w.definition | w.requirement, {"match": "any_answer"},
                      staff_only(302) | OWNED_BY_THIS_RUN),
    "export_windows": ("get", lambda w: w.course | w.definition, {}, staff_only()),
    "export_evidence": ("get", lambda w: w.course | w.definition, {}, staff_only()),
    "export_figures": ("get", lambda w: w.course | w.definition, {}, staff_only()),
    "success_cases": ("get", lambda w: w.course | w.definition, {}, staff_only()),
    "export_success_cases": ("get", lambda w: w.course | w.definition, {}, staff_only()),
    "review_queue": ("get", lambda w: w.course, {}, staff_only()),
    "review": ("post", lambda w: w.course | w.evidence, {"verdict": "verified"},
               staff_only(302) | NOT_THIS_RUNS_LEARNERS),
    # The submitter may download their own file (an assigned peer too: tests/test_peer_review.py); to
    # anyone else the file does not exist.
    "evidence_file": ("get", lambda w: w.course | w.evidence, {}, {
        **staff_only(), "learner": 200, "other_learner": 404, "other_staff": 404, **NOT_THIS_RUNS_LEARNERS}),
    "manage_invite": ("post", lambda w: w.course | w.invite, {"action": "revoke"},
                      staff_only(302) | NOT_THIS_RUNS_LEARNERS),
    "learner": ("get", lambda w: w.course, {}, signed_in()),
    "peer_review": ("get", lambda w: w.course, {}, signed_in()),
    "submit_evidence": ("post", lambda w: w.course | w.window | w.requirement, {"text": "did it", "url": ""},
                        own_window_only()),
    "invite_supervisor": ("post", lambda w: w.course | w.window | w.observation,
                          {"email": "boss@example.com"}, own_window_only()),
    "withdraw": ("post", lambda w: w.course | w.window, {}, own_window_only()),
    "kpi": ("get", lambda w: w.course, {}, staff_only()),
    # Staff get past the permission check to "no CSV source you may upload to" (tests/test_kpi_csv.py uploads).
    "kpi_preview": ("post", lambda w: w.course, {"kind": "observations", "source": "none"}, staff_only(404)),
    "kpi_commit": ("post", lambda w: w.course, {"token": "forged"}, staff_only(302)),
    # Operators: every source of the platform, global staff only.
    "kpi_sources": ("get", lambda w: {}, {}, {**staff_only(403), "global_staff": 200}),
    # No such pulled source in the matrix's settings: global staff get past the check to a 404.
    "kpi_source_test": ("post", lambda w: {"name": "none"}, {}, {**staff_only(403), "global_staff": 404}),
    # Authenticated by its HMAC signature, not by a session: without one, refused for everyone.
    "metric_webhook": ("post", lambda w: {"name": "demo-crm-push"}, {}, everyone(401)),
    # Every course of an org or all orgs: global staff here (org-wide roles: tests/test_portfolio.py).
    "portfolio": ("get", lambda w: {}, {}, {**staff_only(403), "global_staff": 200}),
    "portfolio_csv": ("get", lambda w: {}, {}, {**staff_only(403), "global_staff": 200}),
    # Signed links work without an account: the link is the credential.
    "opt_out": ("get", lambda w: {"token": links.opt_out_token(w.learner.pk, w.definition_obj.pk)}, {}, everyone(200)),
    # The signed link is the authority, except for the learner it is about: they cannot confirm themselves.
    "observe": ("get", lambda w: {"token": w.supervisor_token}, {}, everyone(200) | {"learner": 400}),
}


def api_staff_only(ok=200):
    """The REST API answers anonymous callers 401 (it offers JWT) and signed-in outsiders 403."""
    return staff_only(ok, anonymous=401)


# The REST API (namespace activation_plugin:api_v1): the same roles, JSON statuses.
API_MATRIX = {
    "schema": ("get", lambda w: {}, {}, everyone(200)),
    "index": ("get", lambda w: {}, {}, everyone(200)),
    "definitions": ("get", lambda w: w.course, {}, api_staff_only()),
    "definition": ("get", lambda w: w.course | w.definition, {}, api_staff_only()),
    "definition_activate": ("post", lambda w: w.course | w.definition, {}, api_staff_only() | OWNED_BY_THIS_RUN),
    "definition_archive": ("post", lambda w: w.course | w.definition, {}, api_staff_only() | OWNED_BY_THIS_RUN),
    # Windows exist, so a new requirement is refused whoever may ask: 409 for staff.
    "definition_requirements": ("post", lambda w: w.course | w.definition,
                                {"kind": "project", "title": "t", "config": {"instructions": "i"}},
                                api_staff_only(409) | OWNED_BY_THIS_RUN),
    "requirement_activation_condition": ("post", lambda w: w.course | w.definition | w.requirement,
                                         {"activation_condition": {"match": "any_answer"}},
                                         api_staff_only(400) | OWNED_BY_THIS_RUN),
    "definition_summary": ("get", lambda w: w.course | w.definition, {}, api_staff_only()),
    "definition_figures": ("get", lambda w: w.course | w.definition, {}, api_staff_only()),
    "summaries": ("get", lambda w: w.course, {}, api_staff_only()),
    "windows": ("get", lambda w: w.course, {}, api_staff_only()),
    "evidence": ("get", lambda w: w.course, {}, api_staff_only()),
    "evidence_detail": ("get", lambda w: w.course | w.evidence, {}, api_staff_only() | NOT_THIS_RUNS_LEARNERS),
    "evidence_reviews": ("post", lambda w: w.course | w.evidence, {"verdict": "verified"},
                         api_staff_only(201) | NOT_THIS_RUNS_LEARNERS),
    "my_windows": ("get", lambda w: w.course, {}, {role: 401 if role == "anonymous" else 200 for role in ROLES}),
    "portfolio": ("get", lambda w: {}, {}, {**api_staff_only(403), "global_staff": 200}),
}


class World:
    """One course with a learner's window, evidence with a file, and a pending supervisor invite."""

    def __init__(self, course_key, make_definition):
        other_key = CourseKey.from_string(OTHER_COURSE)
        DemoCourse.objects.create(course_key=other_key, display_name="Elsewhere")
        definition = make_definition(requirements=[PROJECT, OBSERVATION])
        project, observation = definition.requirements.all()
        self.learner = UserFactory(username="learner")
        [window] = api.open_windows(self.learner.pk, course_key, "passing", timezone.now() - timedelta(days=1))
        evidence = api.record_evidence(window=window, requirement=project, source="learner",
                                       payload={"text": "my work"}, idempotency_key="m1",
                                       submitted_at=timezone.now())
        from django.core.files.base import ContentFile  # pylint: disable=import-outside-toplevel
        Evidence.objects.get(pk=evidence.pk).file.save("work.txt", ContentFile(b"work"))
        invite = SupervisorInvite.objects.create(window=window, requirement=observation, email="lead@example.com",
                                                 nonce="nonce-1", expires_at=timezone.now() + timedelta(days=7))
        for run, title in ((OTHER_RUN, "Applying Things (2027)"), (CCX, "Night CCX")):
            DemoCourse.objects.create(course_key=CourseKey.from_string(run), display_name=title)
        other_definition = make_definition(course_key=other_key)
        self.other_learner = UserFactory(username="other_learner")
        api.open_windows(self.other_learner.pk, other_key, "passing", timezone.now())
        self.users = {
            "anonymous": None, "learner": self.learner, "other_learner": self.other_learner,
            "other_staff": self._in_group(f"{STAFF_GROUP_PREFIX}{other_key}", "other_staff"),
            "course_staff": self._in_group(f"{STAFF_GROUP_PREFIX}{course_key}", "course_staff"),
            "course_instructor": self._in_group(f"{INSTRUCTOR_GROUP_PREFIX}{course_key}", "course_instructor"),
            "global_staff": UserFactory(username="global_staff", is_staff=True),
            "other_run_staff": self._in_group(f"{STAFF_GROUP_PREFIX}{OTHER_RUN}", "other_run_staff"),
            # In the LMS a CCX's coach holds the staff role on the CCX's key, and on that key only.
            "ccx_coach": self._in_group(f"{STAFF_GROUP_PREFIX}{CCX}", "ccx_coach"),
        }
        self.definition_obj, self.other_definition = definition, other_definition
        self.course = {"course_id": str(course_key)}
        self.definition = {"definition_id": definition.pk}
        self.window = {"window_id": window.pk}
        self.requirement = {"requirement_id": project.pk}
        self.observation = {"requirement_id": observation.pk}
        self.evidence = {"evidence_id": evidence.pk}
        self.invite = {"invite_id": invite.pk}
        self.supervisor_token = links.supervisor_url(invite).rsplit("/observe/", 1)[1].strip("/")

    @staticmethod
    def _in_group(group, username):
        user = UserFactory(username=username)
        Group.objects.get_or_create(name=group)[0].user_set.add(user)
        return user


@pytest.fixture
def world(course_key, make_definition, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)  # the evidence file
    return World(course_key, make_definition)


def plugin_url_names():
    resolver = get_resolver()
    namespace = resolver.namespace_dict["activation_plugin"][1]
    return {name for name in namespace.reverse_dict if isinstance(name, str)}


def api_url_names():
    namespace = get_resolver().namespace_dict["activation_plugin"][1].namespace_dict["api_v1"][1]
    return {name for name in namespace.reverse_dict if isinstance(name, str)}


def test_the_matrix_names_every_url_of_the_plugin():
    assert plugin_url_names() == set(MATRIX), "add a row to MATRIX for each new URL"
    assert api_url_names() == set(API_MATRIX), "add a row to API_MATRIX for each new endpoint"


CASES = [("", name) for name in sorted(MATRIX)] + [("api_v1:", name) for name in sorted(API_MATRIX)]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("namespace, name", CASES)
def test_status_for_each_role(client, world, namespace, name, role):
    method, kwargs, data, expected = (API_MATRIX if namespace else MATRIX)[name]
    user = world.users[role]
    if user is not None:
        client.force_login(user)
    kwargs = kwargs(world)
    if "course_id" in kwargs and role in RUN_OF_ROLE:
        kwargs["course_id"] = RUN_OF_ROLE[role]
    address = reverse(f"activation_plugin:{namespace}{name}", kwargs=kwargs)
    if method == "post" and namespace:
        response = client.post(address, data, content_type="application/json")
    else:
        response = getattr(client, method)(address, data)
    assert response.status_code == expected[role], (name, role, response.status_code, response.content[:200])
    if response.status_code == 302 and role == "anonymous":
        assert "/login/" in response.url


def test_ids_from_another_course_are_not_found(client, world):
    """Staff of the other course, using their own course in the URL, cannot reach this course's objects."""
    client.force_login(world.users["other_staff"])
    other = {"course_id": OTHER_COURSE}
    for name, kwargs in (("definition", world.definition), ("definition_edit", world.definition),
                         ("definition_preview", world.definition), ("export_windows", world.definition),
                         ("export_evidence", world.definition), ("export_figures", world.definition),
                         ("evidence_file", world.evidence)):
        assert client.get(reverse(f"activation_plugin:{name}", kwargs=other | kwargs)).status_code == 404, name
    for name, kwargs, data in (("definition_status", world.definition, {"action": "archive"}),
                               ("review", world.evidence, {"verdict": "verified"}),
                               ("manage_invite", world.invite, {"action": "revoke"})):
        assert client.post(reverse(f"activation_plugin:{name}", kwargs=other | kwargs), data).status_code == 404
    world.definition_obj.refresh_from_db()
    assert world.definition_obj.status == "active"
    assert SupervisorInvite.objects.get().revoked_at is None
    assert not Review.objects.exists()


# --- CSRF ------------------------------------------------------------------------------------------
# Machine-to-machine: no cookie to forge, each request carries its own HMAC signature
# (tests/test_kpi_webhook.py; the permission matrix asserts an unsigned POST gets 401).
CSRF_EXEMPT = {"metric_webhook"}


def allowed_user(world, expected):
    """Someone the matrix lets past its permission check: the learner, else course staff, else global staff."""
    role = next((role for role in ("learner", "course_staff") if expected[role] not in (403, 404)), "global_staff")
    return world.users[role]


def writes():
    """What any of these POSTs could change, to check a refused one changed nothing."""
    return (list(ActivationDefinition.objects.values_list("pk", "status")),
            list(ActivationWindow.objects.values_list("pk", "state")),
            Evidence.objects.count(), Review.objects.count(), PromptOptOut.objects.count())


@pytest.mark.parametrize("name", sorted(set(MATRIX) - CSRF_EXEMPT))
def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(world, name):
    _method, kwargs, data, expected = MATRIX[name]
    client = Client(enforce_csrf_checks=True)
    client.force_login(allowed_user(world, expected))
    url = reverse(f"activation_plugin:{name}", kwargs=kwargs(world))
    before = writes()
    response = client.post(url, data)
    assert response.status_code == 403 and b"CSRF" in response.content, (name, response.status_code)
    assert writes() == before


@pytest.mark.parametrize("name", sorted(name for name, row in MATRIX.items()
                                        if row[0] == "post" and name not in CSRF_EXEMPT))
def test_the_same_post_with_the_token_goes_through(world, name):
    _method, kwargs, data, expected = MATRIX[name]
    client = Client(enforce_csrf_checks=True)
    user = allowed_user(world, expected)
    client.force_login(user)
    page = "learner" if user == world.learner else "review_queue"
    client.get(reverse(f"activation_plugin:{page}", kwargs=world.course))  # a page with forms sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post(reverse(f"activation_plugin:{name}", kwargs=kwargs(world)),
                           {**data, "csrfmiddlewaretoken": token})
    assert response.status_code != 403, name
