"""The platform boundary: the standalone backend, and the LMS backend against stand-in edx-platform modules."""
import sys
import types
from datetime import timedelta

import pytest
from django.core import mail
from django.contrib.auth.models import AnonymousUser, Group
from django.dispatch import Signal
from opaque_keys.edx.keys import CourseKey

from activation_plugin import api, platform
from activation_plugin.models import Evidence, IdentityLink, MetricObservation, MetricSource, SupervisorInvite
from activation_plugin.platform import STANDALONE_USER_RETIRE_LMS_MISC, LmsBackend, StandaloneBackend
from activation_plugin.test_utils.factories import UserFactory
from tests.conftest import NOW

COURSE = CourseKey.from_string("course-v1:TestX+APPLY+2026")


def test_standalone_staff_are_global_staff_or_course_group_members(db):
    backend = StandaloneBackend()
    member, outsider, global_staff = UserFactory(), UserFactory(), UserFactory(is_staff=True)
    Group.objects.create(name=f"activation-staff:{COURSE}").user_set.add(member)
    assert backend.is_course_staff(member, COURSE)
    assert backend.is_course_staff(global_staff, COURSE)
    assert not backend.is_course_staff(outsider, COURSE)
    assert not backend.is_course_staff(member, CourseKey.from_string("course-v1:TestX+OTHER+2026"))
    assert not backend.is_course_staff(AnonymousUser(), COURSE)
    inactive = UserFactory(is_staff=True, is_active=False)
    assert not backend.is_course_staff(inactive, COURSE)


def test_backend_is_chosen_by_setting(settings):
    settings.ACTIVATION_PLATFORM_BACKEND = "activation_plugin.platform.StandaloneBackend"
    assert type(platform.backend()) is StandaloneBackend
    assert platform.course_title(COURSE) == str(COURSE)
    assert platform.USER_RETIRE_LMS_MISC is STANDALONE_USER_RETIRE_LMS_MISC


@pytest.fixture
def edx_platform(monkeypatch):
    """Just the edx-platform names LmsBackend imports, with recorded behaviour."""
    state = types.SimpleNamespace(staff=set(), instructors=set(), global_staff=set(), courses={COURSE: "Real Title"},
                                  modes={}, cohorts={}, languages={}, retire_signal=Signal())

    def role(members):
        return lambda course_key: types.SimpleNamespace(has_user=lambda user: (user.pk, course_key) in members)

    class DoesNotExist(Exception):
        pass

    def get_from_id(course_key):
        if course_key not in state.courses:
            raise DoesNotExist
        return types.SimpleNamespace(display_name_with_default=state.courses[course_key])

    names = {
        "common.djangoapps.student.roles": {
            "GlobalStaff": lambda: types.SimpleNamespace(has_user=lambda user: user.pk in state.global_staff),
            "CourseStaffRole": role(state.staff), "CourseInstructorRole": role(state.instructors)},
        "openedx.core.djangoapps.content.course_overviews.models": {"CourseOverview": types.SimpleNamespace(
            get_from_id=get_from_id, DoesNotExist=DoesNotExist, course_exists=lambda key: key in state.courses)},
        "common.djangoapps.student.models": {"CourseEnrollment": types.SimpleNamespace(
            enrollment_mode_for_user=lambda user, key: (state.modes.get(user.pk), user.pk in state.modes))},
        "openedx.core.djangoapps.course_groups.cohorts": {
            "get_cohort": lambda user, key, assign, use_cached: state.cohorts.get(user.pk)},
        "openedx.core.djangoapps.user_api.accounts.signals": {"USER_RETIRE_LMS_MISC": state.retire_signal},
        "openedx.core.djangoapps.user_api.preferences.api": {
            "get_user_preference": lambda user, key: state.languages.get(user.pk) if key == "pref-lang" else None},
        "openedx.core.djangoapps.user_api.models": {"UserPreference": types.SimpleNamespace(
            objects=types.SimpleNamespace(filter=lambda user__in, key: types.SimpleNamespace(
                values_list=lambda *fields: [(u.pk, state.languages[u.pk]) for u in user__in
                                             if key == "pref-lang" and u.pk in state.languages])))},
    }
    for dotted, attributes in names.items():
        parts = dotted.split(".")
        for depth in range(1, len(parts) + 1):
            name = ".".join(parts[:depth])
            if name not in sys.modules or depth == len(parts):
                monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
        for attribute, value in attributes.items():
            setattr(sys.modules[dotted], attribute, value)
    return state


def test_lms_backend_asks_edx_platform(edx_platform, db):
    backend = LmsBackend()
    staff, instructor, admin, learner = UserFactory.create_batch(4)
    edx_platform.staff.add((staff.pk, COURSE))
    edx_platform.instructors.add((instructor.pk, COURSE))
    edx_platform.global_staff.add(admin.pk)
    assert [backend.is_course_staff(u, COURSE) for u in (staff, instructor, admin, learner)] == [True, True, True, False]
    assert backend.course_title(COURSE) == "Real Title"
    unknown = CourseKey.from_string("course-v1:TestX+GONE+2020")
    assert backend.course_title(unknown) == str(unknown)
    assert backend.course_exists(COURSE) and not backend.course_exists(unknown)
    edx_platform.modes[learner.pk] = "verified"
    edx_platform.cohorts[learner.pk] = types.SimpleNamespace(name="Night shift")
    assert backend.segment_for(learner, COURSE) == {"enrollment_mode": "verified", "org": "TestX",
                                                    "cohort": "Night shift"}
    assert backend.segment_for(staff, COURSE) == {"enrollment_mode": "", "org": "TestX", "cohort": ""}
    assert backend.retirement_signal() is edx_platform.retire_signal


def test_retirement_erases_personal_data_and_keeps_counts(make_definition, learner, course_key, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1  # one learner's window is counted, not hidden, for this check
    definition = make_definition(requirements=[{"kind": "project", "title": "p", "config": {"instructions": "i"}}])
    [window] = api.open_windows(learner.id, course_key, "passing", NOW)
    api.record_evidence(window=window, requirement=definition.requirements.get(), source="learner",
                        payload={"text": "my private story"}, idempotency_key="k", submitted_at=NOW)
    SupervisorInvite.objects.create(window=window, requirement=window.definition.requirements.get(),
                                    email="boss@example.com", nonce="n",
                                    expires_at=NOW + timedelta(days=7))
    source = MetricSource.objects.create(name="crm", kind="rest")
    IdentityLink.objects.create(source=source, external_id="E1", user=learner, method="explicit")
    MetricObservation.objects.create(source=source, metric="aht", external_id="E1", user=learner,
                                     observed_at=NOW, value=300)
    before = api.summarize(definition)
    # Connected by edx-django-utils from the plugin's signals config, as in the LMS.
    STANDALONE_USER_RETIRE_LMS_MISC.send(sender=None, user=learner)
    assert Evidence.objects.get().payload == {}
    assert not SupervisorInvite.objects.exists() and not IdentityLink.objects.exists()
    assert MetricObservation.objects.get().user is None
    assert api.summarize(definition)["activated"] == before["activated"] == 1


def test_lms_backend_mails_through_edx_ace_in_the_learners_language(edx_platform, db, settings):
    settings.ACE_ENABLED_CHANNELS = ["django_email"]
    settings.ACE_CHANNEL_DEFAULT_EMAIL = settings.ACE_CHANNEL_TRANSACTIONAL_EMAIL = "django_email"
    settings.ACE_ENABLED_POLICIES = []
    backend = LmsBackend()
    learner, other = UserFactory.create_batch(2)
    edx_platform.languages[learner.pk] = "fr"
    assert (backend.language_for(learner), backend.language_for(other)) == ("fr", "en")
    assert backend.languages_for([learner, other]) == {learner.pk: "fr", other.pk: "en"}
    backend.send_message(user=learner, subject="Et alors ?", body="Racontez : https://example.org/x <b>", language="fr")
    [message] = mail.outbox
    assert (message.subject, message.to, message.body.strip()) == (
        "Et alors ?", [learner.email], "Racontez : https://example.org/x <b>")
    html, _mimetype = message.alternatives[0]
    assert '<a href="https://example.org/x"' in html and "&lt;b&gt;" in html  # linked, and escaped
