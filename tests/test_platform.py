"""
The platform boundary on the demo host: the standalone backend, backend choice and retirement.
LmsBackend runs against the real edx-platform code in tests_platform/ (``make test-platform``).
"""
from datetime import date, timedelta

from django.contrib.auth.models import AnonymousUser, Group
from django.core import mail
from opaque_keys.edx.keys import CourseKey

from activation_plugin import api, platform
from activation_plugin.models import Evidence, IdentityLink, MetricObservation, MetricSource, SupervisorInvite
from activation_plugin.platform import STANDALONE_USER_RETIRE_LMS_MISC, LmsBackend, StandaloneBackend
from tests.conftest import NOW, committed
from tests.factories import UserFactory

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
    assert type(platform.backend()) is StandaloneBackend  # pylint: disable=unidiomatic-typecheck  # not a subclass
    assert platform.course_title(COURSE) == str(COURSE)
    assert platform.USER_RETIRE_LMS_MISC is STANDALONE_USER_RETIRE_LMS_MISC


def test_runs_are_named_by_their_run_part_even_when_the_platform_cannot_answer(db, settings):
    ccx = "ccx-v1:TestX+APPLY+2026+ccx@7"
    expected = {str(COURSE): "2026", ccx: "2026, CCX 7", "not a key": "not a key"}
    assert platform.run_labels([str(COURSE), ccx, "not a key"]) == expected
    settings.ACTIVATION_PLATFORM_BACKEND = "activation_plugin.platform.LmsBackend"  # no edx-platform to ask here
    assert platform.run_labels([str(COURSE), ccx, "not a key"]) == expected


def test_retirement_erases_personal_data_and_keeps_counts(make_definition, learner, course_key, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1  # one learner's window is counted, not hidden, for this check
    definition = make_definition(requirements=[{"kind": "project", "title": "p", "config": {"instructions": "i"}}])
    [window] = api.open_windows(learner.id, course_key, "passing", NOW)
    with committed():
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


def test_retirement_erases_an_instructors_id_from_the_definitions_audit_trail(make_definition, course_staff):
    """User ids are personal data wherever they are (the models' annotations agree): an author's too."""
    definition = make_definition(created_by=course_staff, holdout_percent=20)
    api.register_plan(definition, hypothesis="Prompts help.", primary_figure="rate", sample_size=200,
                      end_date=date.today() + timedelta(days=90), registered_by=course_staff)
    other = make_definition(name="Someone else's", created_by=UserFactory(), activate=False)
    STANDALONE_USER_RETIRE_LMS_MISC.send(sender=None, user=course_staff)
    definition.refresh_from_db()
    other.refresh_from_db()
    assert definition.created_by is None and definition.comparison_plan["registered_by"] is None
    assert definition.comparison_plan["hypothesis"] == "Prompts help." and other.created_by is not None


def test_lms_backend_mails_through_edx_ace(db, settings):
    """The real edx-ace with its Django email channel; the LMS's preferences are in tests_platform/."""
    settings.ACE_ENABLED_CHANNELS = ["django_email"]
    settings.ACE_CHANNEL_DEFAULT_EMAIL = settings.ACE_CHANNEL_TRANSACTIONAL_EMAIL = "django_email"
    settings.ACE_ENABLED_POLICIES = []
    backend = LmsBackend()
    learner = UserFactory()
    backend.send_message(user=learner, subject="Et alors ?", body="Racontez : https://example.org/x <b>", language="fr")
    [message] = mail.outbox
    assert (message.subject, message.to, message.body.strip()) == (
        "Et alors ?", [learner.email], "Racontez : https://example.org/x <b>")
    html, _mimetype = message.alternatives[0]
    assert '<a href="https://example.org/x"' in html and "&lt;b&gt;" in html  # linked, and escaped
