"""
``activation_plugin.platform.LmsBackend`` inside the real edx-platform LMS, with the installed wheel.

Everything here is the platform's own code on its own (MariaDB) schema: roles, course overviews,
enrollments, cohorts, user preferences, edx-ace with the Django email channel, the retirement
signal, and the plugin wiring edx-django-utils performs at start-up. Nothing reads course content
from the modulestore (there is no MongoDB here), except where a test says so.
"""
import os
import re
from contextlib import contextmanager
from datetime import datetime, timezone
from uuid import uuid4

import pytest
from activation_test_factories import DefinitionFactory, RequirementFactory, WindowFactory  # tests_platform/conftest.py
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core import mail
from django.db import transaction
from django.http import Http404
from django.test import TestCase
from django.utils.formats import date_format
from edx_django_utils.cache import RequestCache
from opaque_keys.edx.keys import CourseKey
from openedx_events.learning.data import (
    CertificateData,
    CourseData,
    CoursePassingStatusData,
    UserData,
    UserPersonalData,
)
from openedx_events.learning.signals import CERTIFICATE_CREATED, COURSE_PASSING_STATUS_UPDATED

# The platform's own models, roles, factories and APIs.
from common.djangoapps.student.models import CourseEnrollment
from common.djangoapps.student.roles import (
    CourseBetaTesterRole,
    CourseInstructorRole,
    CourseLimitedStaffRole,
    CourseStaffRole,
    GlobalStaff,
    OrgInstructorRole,
    OrgStaffRole,
)
from common.djangoapps.student.tests.factories import CourseEnrollmentFactory, UserFactory
from lms.djangoapps.certificates.data import CertificateStatuses
from lms.djangoapps.certificates.tests.factories import GeneratedCertificateFactory
from lms.djangoapps.courseware.access import has_access
from lms.djangoapps.grades.events import course_grade_now_passed
from lms.djangoapps.grades.models import PersistentCourseGrade
from openedx.core.djangoapps.content.course_overviews.models import CourseOverview
from openedx.core.djangoapps.content.course_overviews.tests.factories import CourseOverviewFactory
from openedx.core.djangoapps.course_groups.cohorts import add_user_to_cohort, get_cohort, is_course_cohorted
from openedx.core.djangoapps.course_groups.models import CourseCohort, CourseCohortsSettings, CourseUserGroup
from openedx.core.djangoapps.user_api.accounts.signals import USER_RETIRE_LMS_MISC
from openedx.core.djangoapps.user_api.preferences.api import set_user_preference

import activation_plugin
from activation_plugin import api, platform, receivers
from activation_plugin.models import ActivationWindow, PendingCompletion, SupervisorInvite, WindowTally
from activation_plugin.platform import LmsBackend

pytestmark = pytest.mark.django_db

COURSE = CourseKey.from_string("course-v1:ActOrg+APPLY101+2026_T1")
OTHER_COURSE = CourseKey.from_string("course-v1:ActOrg+OTHER+2026_T1")
OTHER_ORG_COURSE = CourseKey.from_string("course-v1:ElseOrg+APPLY101+2026_T1")
# In no table at all: no course overview, no cohort settings, not in the modulestore.
UNKNOWN_COURSE = CourseKey.from_string("course-v1:ActOrg+GONE+2020_T1")
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)


@pytest.fixture
def backend():
    return LmsBackend()


@pytest.fixture
def course():
    return CourseOverviewFactory(id=COURSE, display_name="Applying Statistics at Work", org="ActOrg")


def _receiver_uids(signal):
    """The dispatch_uids of a Django signal's connected receivers (Django 4.2 and 5.x entries)."""
    return {entry[0][0] for entry in signal.receivers if isinstance(entry[0][0], str)}


# --- The plugin is the installed wheel, wired by the LMS ------------------------------------------


def test_the_plugin_comes_from_the_installed_wheel_not_the_checkout(installed_site_packages):
    where = os.path.realpath(activation_plugin.__file__)
    assert where.startswith(os.path.realpath(installed_site_packages) + os.sep), where
    checkout = os.environ.get("ACTIVATION_PLATFORM_CHECKOUT")
    assert not checkout or not where.startswith(os.path.realpath(checkout) + os.sep), where


def test_the_lms_plugin_settings_choose_the_lms_backend():
    assert apps.is_installed("activation_plugin")
    assert type(apps.get_app_config("activation_plugin")).__name__ == "ActivationPluginConfig"
    assert settings.ACTIVATION_PLATFORM_BACKEND == "activation_plugin.platform.LmsBackend"
    assert type(platform.backend()) is LmsBackend


def test_the_lms_connected_the_completion_receivers_to_openedx_events():
    # edx-django-utils connects them at start-up from the plugin's signals config (apps.py).
    assert "activation_plugin.receivers.on_course_passing_status_updated" in _receiver_uids(
        COURSE_PASSING_STATUS_UPDATED)
    assert "activation_plugin.receivers.on_certificate_created" in _receiver_uids(CERTIFICATE_CREATED)
    for signal in (COURSE_PASSING_STATUS_UPDATED, CERTIFICATE_CREATED):
        live = signal._live_receivers(None)  # pylint: disable=protected-access
        live = live[0] if isinstance(live, tuple) else live  # Django 5 returns (sync, async)
        assert {getattr(r, "__module__", None) for r in live} >= {"activation_plugin.receivers"}, signal


def test_the_retirement_signal_is_the_lms_one_and_the_receiver_is_connected(backend):
    assert backend.retirement_signal() is USER_RETIRE_LMS_MISC
    assert platform.USER_RETIRE_LMS_MISC is USER_RETIRE_LMS_MISC
    assert "activation_plugin.receivers.on_user_retired" in _receiver_uids(USER_RETIRE_LMS_MISC)


# --- is_course_staff ------------------------------------------------------------------------------


def test_course_staff_and_instructors_are_course_staff_of_their_course_only(backend, course):
    staff, instructor = UserFactory(), UserFactory()
    CourseStaffRole(COURSE).add_users(staff)
    CourseInstructorRole(COURSE).add_users(instructor)
    assert backend.is_course_staff(staff, COURSE)
    assert backend.is_course_staff(instructor, COURSE)
    assert not backend.is_course_staff(staff, OTHER_COURSE)
    assert not backend.is_course_staff(instructor, OTHER_COURSE)


def test_global_staff_are_course_staff_everywhere(backend, course):
    admin = UserFactory()
    GlobalStaff().add_users(admin)
    admin.refresh_from_db()
    assert admin.is_staff
    assert backend.is_course_staff(admin, COURSE)
    assert backend.is_course_staff(admin, UNKNOWN_COURSE)


def test_org_roles_are_the_orgs_of_org_wide_staff_and_instructors(backend, course):
    """The portfolio's access (issue 33): org-wide roles only; a course role on the org's course is not one."""
    staff, instructor, course_staff = UserFactory(), UserFactory(), UserFactory()
    OrgStaffRole(COURSE.org).add_users(staff)
    OrgInstructorRole("PortfolioU").add_users(instructor)
    CourseStaffRole(COURSE).add_users(course_staff)
    assert backend.org_roles(staff) == {COURSE.org}
    assert backend.org_roles(instructor) == {"PortfolioU"}
    assert backend.org_roles(course_staff) == set()
    assert backend.org_roles(AnonymousUser()) == set()


def test_a_plain_learner_beta_tester_anonymous_or_inactive_user_is_not(backend, course):
    learner = CourseEnrollmentFactory(user=UserFactory(), course_id=COURSE, mode="verified").user
    beta = UserFactory()
    CourseBetaTesterRole(COURSE).add_users(beta)
    inactive_staff = UserFactory()
    CourseStaffRole(COURSE).add_users(inactive_staff)
    inactive_staff.is_active = False
    inactive_staff.save()
    assert not backend.is_course_staff(learner, COURSE)
    assert not backend.is_course_staff(beta, COURSE)
    assert not backend.is_course_staff(AnonymousUser(), COURSE)
    assert not backend.is_course_staff(None, COURSE)
    assert not backend.is_course_staff(inactive_staff, COURSE)


@pytest.mark.parametrize("role", [
    "learner", "global_staff", "course_staff", "course_instructor",
    "org_staff", "org_instructor",
    "limited_staff", "beta_tester",
])
def test_course_staff_matches_the_lms_own_staff_access(backend, course, role):
    """The LMS's has_access(user, 'staff', course_key) is who sees the instructor dashboard."""
    user = UserFactory()
    grant = {
        "learner": lambda u: None,
        "global_staff": lambda u: GlobalStaff().add_users(u),
        "course_staff": lambda u: CourseStaffRole(COURSE).add_users(u),
        "course_instructor": lambda u: CourseInstructorRole(COURSE).add_users(u),
        "org_staff": lambda u: OrgStaffRole(COURSE.org).add_users(u),
        "org_instructor": lambda u: OrgInstructorRole(COURSE.org).add_users(u),
        "limited_staff": lambda u: CourseLimitedStaffRole(COURSE).add_users(u),
        "beta_tester": lambda u: CourseBetaTesterRole(COURSE).add_users(u),
    }[role]
    grant(user)
    user.refresh_from_db()
    lms_says = bool(has_access(user, "staff", COURSE))
    assert backend.is_course_staff(user, COURSE) == lms_says, (
        f"{role}: LMS has_access(staff)={lms_says}, LmsBackend.is_course_staff={not lms_says}")


# --- course_exists / course_title -----------------------------------------------------------------


def test_a_course_with_an_overview_exists_and_has_its_display_name(backend, course):
    assert backend.course_exists(COURSE)
    assert backend.course_title(COURSE) == "Applying Statistics at Work"
    assert platform.course_title(COURSE) == "Applying Statistics at Work"


def test_an_overview_without_a_display_name_falls_back_like_the_lms(backend):
    overview = CourseOverviewFactory(id=OTHER_COURSE, display_name=None)
    assert backend.course_title(OTHER_COURSE) == overview.display_name_with_default
    assert backend.course_title(OTHER_COURSE)


def test_an_unknown_course_does_not_exist_and_is_titled_by_its_key(backend):
    # Not in the course overviews: the platform then asks the modulestore (its split course index
    # lives in MySQL), which does not know the course either.
    assert not CourseOverview.objects.filter(id=UNKNOWN_COURSE).exists()
    assert not backend.course_exists(UNKNOWN_COURSE)
    assert backend.course_title(UNKNOWN_COURSE) == str(UNKNOWN_COURSE)


def test_runs_are_named_by_their_run_and_start_date(backend):
    start = datetime(2026, 1, 12, 9, tzinfo=timezone.utc)
    CourseOverviewFactory(id=COURSE, display_name="Applying Statistics at Work", org="ActOrg", start=start)
    assert backend.run_labels([str(COURSE), UNKNOWN_COURSE]) == {
        str(COURSE): f"2026_T1 (from {date_format(start)})", UNKNOWN_COURSE: "2020_T1"}


# --- segment_for ----------------------------------------------------------------------------------


@pytest.fixture
def cohorted_course(course):
    """A cohorted course with two manual cohorts."""
    CourseCohortsSettings.objects.create(course_id=COURSE, is_cohorted=True)
    # cohorts.add_cohort would read the course from the modulestore first: the model API does not.
    night = CourseCohort.create(cohort_name="Night shift", course_id=COURSE,
                                assignment_type=CourseCohort.MANUAL).course_user_group
    CourseCohort.create(cohort_name="Day shift", course_id=COURSE, assignment_type=CourseCohort.MANUAL)
    return night


def _join(cohort, user):
    """The platform's own assignment (filters, signals), then a new request: nothing answered from its cache."""
    add_user_to_cohort(cohort, user)
    RequestCache.clear_all_namespaces()


def test_segment_is_the_enrollment_mode_org_and_cohort(backend, cohorted_course):
    learner = CourseEnrollmentFactory(course_id=COURSE, mode="verified").user
    _join(cohorted_course, learner)
    assert CourseUserGroup.objects.get(users=learner).name == "Night shift"
    assert backend.segment_for(learner, COURSE) == {
        "enrollment_mode": "verified", "org": "ActOrg", "cohort": "Night shift"}


def test_segment_of_a_learner_without_cohort_in_a_cohorted_course_assigns_none(backend, cohorted_course):
    learner = CourseEnrollmentFactory(course_id=COURSE, mode="audit").user
    assert backend.segment_for(learner, COURSE) == {"enrollment_mode": "audit", "org": "ActOrg", "cohort": ""}
    # assign=False: asking for the segment never puts the learner in a cohort.
    assert not CourseUserGroup.objects.filter(users=learner).exists()


def test_segment_in_a_course_whose_cohorts_are_off(backend, course):
    CourseCohortsSettings.objects.create(course_id=COURSE, is_cohorted=False)
    learner = CourseEnrollmentFactory(course_id=COURSE, mode="professional").user
    group = CourseCohort.create(cohort_name="Left over", course_id=COURSE).course_user_group
    _join(group, learner)
    assert backend.segment_for(learner, COURSE) == {
        "enrollment_mode": "professional", "org": "ActOrg", "cohort": ""}


def test_segment_of_an_unenrolled_user(backend, cohorted_course):
    outsider = UserFactory()
    assert backend.segment_for(outsider, COURSE) == {"enrollment_mode": "", "org": "ActOrg", "cohort": ""}


def test_segment_keeps_the_mode_of_an_unenrolled_learner(backend, cohorted_course):
    learner = CourseEnrollmentFactory(course_id=COURSE, mode="verified").user
    CourseEnrollment.unenroll(learner, COURSE)
    assert backend.segment_for(learner, COURSE)["enrollment_mode"] == "verified"


@pytest.fixture
def learner_in_an_unreadable_course():
    """
    A verified learner of a course run that has an overview and an enrollment but no cohort
    settings row and no modulestore course: the platform's get_cohort then tries to migrate the
    settings from the modulestore, which does not have the course (Http404).
    """
    CourseOverviewFactory(id=UNKNOWN_COURSE, display_name="Gone")
    learner = CourseEnrollmentFactory(course_id=UNKNOWN_COURSE, mode="verified").user
    assert not CourseCohortsSettings.objects.filter(course_id=UNKNOWN_COURSE).exists()
    return learner


def test_the_lms_cannot_read_the_cohort_settings_of_such_a_course(backend, learner_in_an_unreadable_course):
    """What the backend has to absorb: the platform's own cohort lookups raise for this course."""
    with pytest.raises(Http404):
        get_cohort(learner_in_an_unreadable_course, UNKNOWN_COURSE, assign=False, use_cached=True)
    with pytest.raises(Http404):
        is_course_cohorted(UNKNOWN_COURSE)
    assert backend.segment_for(learner_in_an_unreadable_course, UNKNOWN_COURSE) == {
        "enrollment_mode": "verified", "org": "ActOrg", "cohort": ""}


def test_the_boundary_still_gives_a_segment_when_cohort_settings_cannot_be_read(learner_in_an_unreadable_course):
    learner = learner_in_an_unreadable_course
    segment = platform.segment_for(learner, UNKNOWN_COURSE)
    assert segment["org"] == "ActOrg" and segment["cohort"] == ""
    # Single and batch give the same answer, the enrollment mode the LMS knows included.
    assert segment == {"enrollment_mode": "verified", "org": "ActOrg", "cohort": ""}
    assert platform.segments_for([(learner, UNKNOWN_COURSE)]) == {
        (learner.pk, UNKNOWN_COURSE): {"enrollment_mode": "verified", "org": "ActOrg", "cohort": ""}}


def test_the_fallback_keeps_the_enrollment_mode_the_lms_knows(learner_in_an_unreadable_course):
    assert platform.segment_for(learner_in_an_unreadable_course, UNKNOWN_COURSE) == {
        "enrollment_mode": "verified", "org": "ActOrg", "cohort": ""}


def test_batch_segments_match_single_segments_in_a_cohorted_course(backend, cohorted_course):
    member = CourseEnrollmentFactory(course_id=COURSE, mode="verified").user
    _join(cohorted_course, member)
    loner = CourseEnrollmentFactory(course_id=COURSE, mode="audit").user
    outsider = UserFactory()
    pairs = [(member, COURSE), (loner, COURSE), (outsider, COURSE)]
    with_single = {(user.pk, run): backend.segment_for(user, run) for user, run in pairs}
    assert with_single[(member.pk, COURSE)]["cohort"] == "Night shift"
    assert backend.segments_for(pairs) == with_single
    assert platform.segments_for(pairs) == with_single


def test_batch_segments_match_single_segments_when_a_course_has_cohorts_off(backend, course):
    """Backfilled windows (segments_for) and live ones (segment_for) must carry the same segment."""
    CourseCohortsSettings.objects.create(course_id=COURSE, is_cohorted=False)
    learner = CourseEnrollmentFactory(course_id=COURSE, mode="professional").user
    _join(CourseCohort.create(cohort_name="Left over", course_id=COURSE).course_user_group, learner)
    single = backend.segment_for(learner, COURSE)
    assert single["cohort"] == ""  # the LMS: no cohorts in a course whose cohorts are off
    assert backend.segments_for([(learner, COURSE)]) == {(learner.pk, COURSE): single}


def test_enrolled_among_is_any_active_enrollment_in_a_run_of_the_catalog_course(backend, course):
    """The course effect's untrained colleagues leave out whoever the LMS has enrolled in the course."""
    this_run = CourseEnrollmentFactory(course_id=COURSE).user
    later_run = CourseEnrollmentFactory(course_id=CourseKey.from_string("course-v1:ActOrg+APPLY101+2027_T1")).user
    unenrolled = CourseEnrollmentFactory(course_id=COURSE, is_active=False).user
    elsewhere = CourseEnrollmentFactory(course_id=OTHER_COURSE).user
    nobody = UserFactory()
    asked = {user.pk for user in (this_run, later_run, unenrolled, elsewhere, nobody)}
    assert backend.enrolled_among("ActOrg+APPLY101", asked) == {this_run.pk, later_run.pk}


# --- language_for / languages_for -----------------------------------------------------------------


def test_language_is_the_pref_lang_preference_or_the_site_language(backend):
    french, plain = UserFactory(), UserFactory()
    set_user_preference(french, "pref-lang", "fr")
    assert backend.language_for(french) == "fr"
    assert backend.language_for(plain) == settings.LANGUAGE_CODE


def test_languages_for_a_batch_in_one_query(backend, django_assert_num_queries):
    french, spanish, plain = UserFactory(), UserFactory(), UserFactory()
    set_user_preference(french, "pref-lang", "fr")
    set_user_preference(spanish, "pref-lang", "es-419")
    with django_assert_num_queries(1):
        languages = backend.languages_for([french, spanish, plain])
    assert languages == {french.pk: "fr", spanish.pk: "es-419", plain.pk: settings.LANGUAGE_CODE}
    assert backend.languages_for([]) == {}


# --- send_message through edx-ace -----------------------------------------------------------------


def test_the_lms_routes_ace_email_through_the_django_channel():
    assert "django_email" in settings.ACE_ENABLED_CHANNELS
    assert settings.ACE_CHANNEL_DEFAULT_EMAIL == "django_email"
    assert settings.EMAIL_BACKEND == "django.core.mail.backends.locmem.EmailBackend"


def test_send_message_to_a_learner_renders_the_plugins_templates(backend):
    learner = UserFactory(email="learner@example.org")
    mail.outbox = []
    backend.send_message(user=learner, subject="Did you apply it?\n",
                         body="Tell us how: https://example.org/apply <b>now</b>", language="fr")
    assert len(mail.outbox) == 1, "edx-ace sent nothing (a template it could not find is only logged)"
    [message] = mail.outbox
    assert message.to == ["learner@example.org"]
    assert message.subject == "Did you apply it?"
    assert message.body.strip() == "Tell us how: https://example.org/apply <b>now</b>"
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert re.search(r"<title[^>]*>\s*Did you apply it\?\s*</title>", html)  # ace_common's head, our subject
    assert '<a href="https://example.org/apply"' in html
    assert "&lt;b&gt;now&lt;/b&gt;" in html and "<b>now</b>" not in html


def test_the_html_part_is_laid_out_by_the_lms_own_email_base(backend):
    """ace_common's base_body.html (the platform's logo and links) wraps the plugin's content, button and footer."""
    learner = UserFactory(email="learner@example.org")
    mail.outbox = []
    backend.send_message(user=learner, subject="Did you apply it?", body="Tell us how.",
                         footer="To stop these messages: https://example.org/stop",
                         action=("Show how you applied it", "https://example.org/apply"))
    [message] = mail.outbox
    assert message.body.strip() == "Tell us how.\n\n-- \nTo stop these messages: https://example.org/stop"
    [(html, _mimetype)] = message.alternatives
    assert f"Go to {settings.PLATFORM_NAME} Home Page" in html  # the LMS base's logo link
    assert ">Show how you applied it</a>" in html and 'href="https://example.org/stop"' in html


def test_send_message_to_a_supervisor_without_an_account(backend):
    mail.outbox = []
    platform.send_message(subject="Observe Ada", body="Please confirm.", email="boss@example.org")
    [message] = mail.outbox
    assert message.to == ["boss@example.org"]
    assert message.subject == "Observe Ada"


def test_a_supervisor_invitation_is_mailed_only_after_the_request_transaction_commits(course):
    """The LMS runs each request in a transaction (ATOMIC_REQUESTS): the api's own block is a savepoint."""
    CourseCohortsSettings.objects.create(course_id=COURSE, is_cohorted=False)
    observation = RequirementFactory(
        definition=DefinitionFactory(course_key=COURSE, catalog_course="ActOrg+APPLY101"), kind="observation",
        verification="supervisor", config={"checklist": ["Greets the caller"], "min_observed": 1})
    window = WindowFactory(definition=observation.definition,
                           user=CourseEnrollmentFactory(course_id=COURSE, mode="verified").user)
    mail.outbox = []
    with platform_commits():
        with transaction.atomic():  # the request's transaction
            api.invite_supervisor(window, observation, "boss@example.org")
            assert mail.outbox == []
        assert mail.outbox == []
    [message] = mail.outbox
    assert message.to == ["boss@example.org"]
    assert SupervisorInvite.objects.get(window=window).mail_status == "sent"


# --- the completion events, end to end ------------------------------------------------------------


def _user_data(user):
    return UserData(id=user.id, is_active=True,
                    pii=UserPersonalData(username=user.username, email=user.email, name=user.get_full_name()))


@contextmanager
def platform_commits():
    """The platform's write that sent the event commits at the end of the block: the receivers' work after it runs."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        yield


def _plugin_response(responses):
    [(receiver, response)] = [(r, resp) for r, resp in responses if r.__module__ == "activation_plugin.receivers"]
    return receiver, response


def test_course_passing_event_opens_a_window_with_the_lms_segment(cohorted_course):
    definition = DefinitionFactory(course_key=COURSE, catalog_course="ActOrg+APPLY101", trigger="passing")
    learner = CourseEnrollmentFactory(course_id=COURSE, mode="verified").user
    _join(cohorted_course, learner)
    with platform_commits():
        responses = COURSE_PASSING_STATUS_UPDATED.send_event(
            time=NOW,
            course_passing_status=CoursePassingStatusData(
                is_passing=True, course=CourseData(course_key=COURSE, display_name="Applying Statistics at Work"),
                user=_user_data(learner)))
    receiver, response = _plugin_response(responses)
    assert receiver is receivers.on_course_passing_status_updated
    assert not isinstance(response, Exception), repr(response)
    window = ActivationWindow.objects.get(definition=definition, user=learner)
    assert (window.enrollment_mode, window.org, window.cohort) == ("verified", "ActOrg", "Night shift")
    assert window.opened_at == NOW


def test_certificate_created_event_opens_a_window(course):
    CourseCohortsSettings.objects.create(course_id=COURSE, is_cohorted=False)
    definition = DefinitionFactory(course_key=COURSE, catalog_course="ActOrg+APPLY101", trigger="certificate")
    learner = CourseEnrollmentFactory(course_id=COURSE, mode="verified").user
    with platform_commits():
        responses = CERTIFICATE_CREATED.send_event(
            time=NOW,
            certificate=CertificateData(
                user=_user_data(learner), course=CourseData(course_key=COURSE), mode="verified", grade="0.9",
                current_status="downloadable", download_url="", name=""))
    _receiver, response = _plugin_response(responses)
    assert not isinstance(response, Exception), repr(response)
    window = ActivationWindow.objects.get(definition=definition, user=learner)
    assert (window.trigger, window.enrollment_mode, window.cohort) == ("certificate", "verified", "")


def test_a_completion_in_a_course_whose_cohort_settings_cannot_be_read_still_opens_a_window():
    """The receivers promise never to raise into the platform's dispatch, and a completer's window must open."""
    CourseOverviewFactory(id=UNKNOWN_COURSE, display_name="Gone")
    definition = DefinitionFactory(course_key=UNKNOWN_COURSE, catalog_course="ActOrg+GONE", trigger="passing")
    learner = CourseEnrollmentFactory(course_id=UNKNOWN_COURSE, mode="verified").user
    with platform_commits():
        responses = COURSE_PASSING_STATUS_UPDATED.send_event(
            time=NOW,
            course_passing_status=CoursePassingStatusData(
                is_passing=True, course=CourseData(course_key=UNKNOWN_COURSE), user=_user_data(learner)))
    _receiver, response = _plugin_response(responses)
    assert not isinstance(response, Exception), repr(response)
    assert ActivationWindow.objects.filter(definition=definition, user=learner).exists()


def test_the_lms_own_passing_grade_event_opens_a_window(cohorted_course):
    """lms.djangoapps.grades.events.course_grade_now_passed is what the grades app calls on a first pass."""
    definition = DefinitionFactory(course_key=COURSE, catalog_course="ActOrg+APPLY101", trigger="passing")
    learner = CourseEnrollmentFactory(course_id=COURSE, mode="verified").user
    _join(cohorted_course, learner)
    with platform_commits():
        course_grade_now_passed(learner, COURSE)
    window = ActivationWindow.objects.get(definition=definition, user=learner)
    assert (window.trigger, window.enrollment_mode, window.cohort) == ("passing", "verified", "Night shift")


def test_a_passing_certificate_saved_by_the_lms_opens_a_window_once_its_transaction_commits(course):
    """
    GeneratedCertificate.save sends CERTIFICATE_CREATED whenever the status is a passing one, from
    inside the LMS's transaction: the completion is stored there, but no window and no shared running
    total is written until that transaction commits (issue 30).
    """
    CourseCohortsSettings.objects.create(course_id=COURSE, is_cohorted=False)
    definition = DefinitionFactory(course_key=COURSE, catalog_course="ActOrg+APPLY101", trigger="certificate")
    learner = CourseEnrollmentFactory(course_id=COURSE, mode="verified").user
    certificate = GeneratedCertificateFactory(user=learner, course_id=COURSE, status=CertificateStatuses.notpassing,
                                              mode="verified", verify_uuid=uuid4().hex)
    assert not ActivationWindow.objects.filter(definition=definition).exists()
    certificate.status = CertificateStatuses.downloadable
    with platform_commits():
        with transaction.atomic():  # the request's transaction (ATOMIC_REQUESTS)
            certificate.save()
            certificate.save()  # the LMS sends the event again on every save: still one window
            assert PendingCompletion.objects.filter(user_id=learner.pk).count() == 1
            assert not ActivationWindow.objects.filter(definition=definition).exists()
            assert not WindowTally.objects.filter(definition=definition).exists()
    [window] = ActivationWindow.objects.filter(definition=definition)
    assert WindowTally.objects.filter(definition=definition).exists()
    assert (window.user, window.trigger, window.enrollment_mode) == (learner, "certificate", "verified")


# --- completions and backfill: the platform's own grade and certificate records -------------------


SINCE = datetime(2026, 1, 1, tzinfo=timezone.utc)
RUNS_OF_APPLY101 = [
    COURSE,
    CourseKey.from_string("course-v1:ActOrg+APPLY101+2025_T2"),
    CourseKey.from_string("ccx-v1:ActOrg+APPLY101+2026_T1+ccx@7"),
    CourseKey.from_string("ActOrg/APPLY101/2013_Spring"),
]
NOT_APPLY101 = [
    OTHER_COURSE,
    OTHER_ORG_COURSE,
    CourseKey.from_string("course-v1:ActOrg+APPLY1010+2026_T1"),  # shares the text prefix without the '+'
    CourseKey.from_string("course-v1:ActOrg+APPLY101_X+2026_T1"),  # '_' is a LIKE wildcard
]


def _grade(run, passed_at, user=None):
    return PersistentCourseGrade.objects.create(
        user_id=(user or UserFactory()).id, course_id=run, percent_grade=0.9 if passed_at else 0.3,
        letter_grade="Pass" if passed_at else "", grading_policy_hash="hash", passed_timestamp=passed_at)


def test_completions_are_the_passing_grades_of_every_run_of_the_catalog_course(backend):
    wanted = [_grade(run, NOW) for run in RUNS_OF_APPLY101]
    for run in NOT_APPLY101:
        _grade(run, NOW)
    _grade(COURSE, None)  # not passing
    _grade(COURSE, datetime(2025, 6, 1, tzinfo=timezone.utc))  # passed before `since`
    got = backend.completions("ActOrg+APPLY101", "passing", since=SINCE)
    assert [completion.record_id for completion in got] == [grade.id for grade in wanted]
    first = got[0]
    assert (first.user_id, first.course_run, first.completed_at) == (wanted[0].user_id, COURSE, NOW)
    # Paged by record id, as the backfill reads them.
    page = backend.completions("ActOrg+APPLY101", "passing", since=SINCE, limit=2)
    rest = backend.completions("ActOrg+APPLY101", "passing", since=SINCE, after=page[-1].record_id)
    assert page + rest == got


def test_completions_are_the_passing_certificates_of_every_run_of_the_catalog_course(backend):
    def certificate(run, status):
        return GeneratedCertificateFactory(user=UserFactory(), course_id=run, status=status, mode="verified",
                                           verify_uuid=uuid4().hex)
    wanted = [certificate(run, CertificateStatuses.downloadable) for run in RUNS_OF_APPLY101[:2]]
    wanted.append(certificate(RUNS_OF_APPLY101[2], CertificateStatuses.generating))
    certificate(COURSE, CertificateStatuses.notpassing)
    certificate(COURSE, CertificateStatuses.unavailable)
    for run in NOT_APPLY101:
        certificate(run, CertificateStatuses.downloadable)
    got = backend.completions("ActOrg+APPLY101", "certificate", since=SINCE)
    assert [(c.record_id, c.user_id, c.course_run) for c in got] == [
        (cert.id, cert.user_id, cert.course_id) for cert in wanted]


def test_backfill_opens_windows_from_the_lms_records_with_their_segments(cohorted_course):
    definition = DefinitionFactory(course_key=COURSE, catalog_course="ActOrg+APPLY101", trigger="passing",
                                   window_days=365)
    member = CourseEnrollmentFactory(course_id=COURSE, mode="verified").user
    _join(cohorted_course, member)
    other_run = CourseKey.from_string("course-v1:ActOrg+APPLY101+2025_T2")
    CourseOverviewFactory(id=other_run)
    audit = CourseEnrollmentFactory(course_id=other_run, mode="audit").user
    passed_at = datetime.now(timezone.utc).replace(microsecond=0)
    _grade(COURSE, passed_at, user=member)
    _grade(other_run, passed_at, user=audit)
    _grade(OTHER_COURSE, passed_at)
    assert api.backfill(definition) == {"completions": 2, "opened": 2}
    assert api.backfill(definition) == {"completions": 2, "opened": 0}
    windows = {w.user_id: w for w in ActivationWindow.objects.filter(definition=definition)}
    assert (windows[member.pk].course_run, windows[member.pk].enrollment_mode, windows[member.pk].cohort) == (
        COURSE, "verified", "Night shift")
    assert (windows[audit.pk].course_run, windows[audit.pk].enrollment_mode) == (other_run, "audit")
    assert windows[member.pk].opened_at == passed_at


# --- retirement, end to end -----------------------------------------------------------------------


def test_the_lms_retirement_signal_reaches_the_plugin(course):
    learner = UserFactory()
    requirement = RequirementFactory(definition=DefinitionFactory(course_key=COURSE, catalog_course="ActOrg+APPLY101"))
    window = WindowFactory(definition=requirement.definition, user=learner)
    SupervisorInvite.objects.create(window=window, requirement=requirement, email="boss@example.org", nonce="n1",
                                    expires_at=datetime(2030, 1, 1, tzinfo=timezone.utc))
    # As the LMS's retirement view sends it (openedx/core/djangoapps/user_api/accounts/views.py).
    responses = USER_RETIRE_LMS_MISC.send_robust(sender=None, user=learner)
    [(receiver, response)] = [(r, resp) for r, resp in responses if r.__module__ == "activation_plugin.receivers"]
    assert receiver is receivers.on_user_retired
    assert response is None, repr(response)
    assert not SupervisorInvite.objects.filter(window=window).exists()
    assert ActivationWindow.objects.filter(pk=window.pk).exists()  # anonymous counts stay
