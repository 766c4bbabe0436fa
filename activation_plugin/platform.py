"""
The one boundary between this plugin and edx-platform.

Every question the plugin asks the platform (is this user course staff? what is this course
called? which segment is this learner in? send this learner a message) goes through the backend
named by ``settings.ACTIVATION_PLATFORM_BACKEND``. ``LmsBackend`` imports edx-platform lazily, so
the plugin imports cleanly outside the LMS; ``StandaloneBackend`` needs only Django and serves the
demo host and the tests.
"""
import contextlib
import functools
import logging
from typing import NamedTuple

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import CharField, ExpressionWrapper, F, Q
from django.dispatch import Signal
from django.template import TemplateDoesNotExist
from django.template.loader import get_template, render_to_string
from django.utils import translation
from django.utils.formats import date_format
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from edx_toggles.toggles import WaffleFlag

from activation_plugin.errors import ActivationRequestError
from activation_plugin.keys import is_ccx, parse_course_key

log = logging.getLogger(__name__)

STAFF_GROUP_PREFIX = "activation-staff:"
INSTRUCTOR_GROUP_PREFIX = "activation-instructor:"
ORG_GROUP_PREFIX = "activation-org:"


class Completion(NamedTuple):
    """A completion as the platform recorded it: a passing grade or a passing certificate."""

    record_id: int  # the platform's row id: backfills page through records in this order
    user_id: int
    course_run: object  # CourseKey
    completed_at: object  # aware datetime


# Stands in for edx-platform's signal wherever the LMS is absent; same name, same arguments (user).
STANDALONE_USER_RETIRE_LMS_MISC = Signal()


class StandaloneBackend:
    """
    Plain-Django answers: global staff, and members of the groups ``activation-staff:<course_key>``
    or ``activation-instructor:<course_key>`` (the LMS's two course roles), are course staff;
    every course exists and its key is its title; mail goes through Django's email backend.
    """

    def is_course_staff(self, user, course_key):
        if not (user and user.is_authenticated and user.is_active):
            return False
        return user.is_staff or user.groups.filter(
            name__in=[f"{STAFF_GROUP_PREFIX}{course_key}", f"{INSTRUCTOR_GROUP_PREFIX}{course_key}"]).exists()

    def course_staff_runs(self, user, course_runs):
        """
        The runs of ``course_runs`` (keys as text) whose staff ``user`` is (``is_course_staff``), in
        one query of the user's groups however many runs: the portfolio asks about every run at once.
        """
        if not (user and user.is_authenticated and user.is_active):
            return frozenset()
        if user.is_staff:
            return frozenset(course_runs)
        prefixes = (STAFF_GROUP_PREFIX, INSTRUCTOR_GROUP_PREFIX)
        names = set(user.groups.filter(name__startswith="activation-").values_list("name", flat=True))
        return frozenset(run for run in course_runs if any(f"{prefix}{run}" in names for prefix in prefixes))

    def is_global_staff(self, user):
        """Operators: the platform's global staff (Django's ``is_staff`` outside the LMS)."""
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)

    def org_roles(self, user):
        """The orgs whose staff or instructors ``user`` is: members of the group ``activation-org:<org>``."""
        if not (user and user.is_authenticated and user.is_active):
            return set()
        return {name[len(ORG_GROUP_PREFIX):] for name in user.groups.filter(
            name__startswith=ORG_GROUP_PREFIX).values_list("name", flat=True)}

    def course_exists(self, course_key):  # pylint: disable=unused-argument
        return True

    def course_title(self, course_key):
        return str(course_key)

    def run_labels(self, course_runs):
        """
        ``{course_run: label}``: the names people know the runs of a course by, for pages (exports and
        the REST API keep the keys). Here the key's run part (``2026_T1``): runs share the course's title.
        """
        return {run: run_code(run) for run in course_runs}

    def segment_for(self, user, course_key):  # pylint: disable=unused-argument
        """Segment fields copied onto a window when it opens."""
        return empty_segment(course_key)

    def segments_for(self, pairs):
        """``{(user_id, course_run): segment}`` for a batch of ``(user, course_run)``; backends ask once."""
        return {(user.pk, run): self.segment_for(user, run) for user, run in pairs}

    def completions(self, catalog_course, trigger, *, since, after=0, limit=1000):  # pylint: disable=unused-argument
        """
        Past completions of every run of ``catalog_course`` since ``since``, by record id after
        ``after``: what ``activation_backfill`` opens windows from. A plain Django host keeps no
        grades or certificates, so it has none; hosts that do override this (the LMS's backend).
        """
        return []

    def enrolled_among(self, catalog_course, user_ids):  # pylint: disable=unused-argument
        """Django alone knows no enrollments: nobody is known to be enrolled."""
        return set()

    def language_for(self, user):  # pylint: disable=unused-argument
        """The language to write to this learner in."""
        return settings.LANGUAGE_CODE

    def languages_for(self, users):
        """``{user_id: language}`` for a batch of learners; backends override it to ask once."""
        return {user.pk: self.language_for(user) for user in users}

    def email_context(self):
        """What the HTML mail's layout needs: here the plugin's own base, with the platform's name."""
        return {"base_template": EMAIL_BASE_TEMPLATE, "base_head_template": EMAIL_BASE_HEAD_TEMPLATE,
                "platform_name": getattr(settings, "PLATFORM_NAME", "Open edX")}

    def render_email(self, *, subject, body, language=None, footer="", action=None, linkify=True):
        """``(text, html)``: the two parts of a mail, as sent; the configuration page's preview shows them too."""
        context = email_context(subject, body, footer, action, self.email_context(), linkify=linkify)
        with translation.override(language or settings.LANGUAGE_CODE):
            text = render_to_string(f"{EMAIL_TEMPLATES}/body.txt", context)
            html = html_document(render_to_string(f"{EMAIL_TEMPLATES}/head.html", context),
                                 render_to_string(f"{EMAIL_TEMPLATES}/body.html", context))
        return text, html

    def send_message(self, *, user, subject, body, language=None, email=None, footer="", action=None,
                     session=None):
        """
        Mail a learner (``user``) or someone without an account (``email``: a supervisor): a text
        part and an HTML part from the same templates edx-ace renders in the LMS, so the demo's
        outbox shows what the LMS sends. Raises on failure, so the caller can retry; the text
        arrives already in ``language``. ``action``: ``(label, url)``, the HTML part's button.
        ``session``: a connection from ``mail_session``, opened here by the first message that uses it.
        """
        text, html = self.render_email(subject=subject, body=body, language=language, footer=footer, action=action,
                                       linkify=email is None)
        message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [email or user.email],
                                         connection=session)
        message.attach_alternative(html, "text/html")
        if session is not None:
            session.open()  # a no-op once open; Django's backends close only connections they opened themselves
        message.send()

    @contextlib.contextmanager
    def mail_session(self):
        """
        One connection of Django's mail backend for a group of messages (``send_message(session=…)``):
        an SMTP server is greeted, and TLS negotiated, once per group instead of once per message.
        Opened by the group's first message, so a server out of reach fails that message as it would
        without a session. Closing it never raises: the group's mail was accepted by then.
        """
        session = get_connection()
        try:
            yield session
        finally:
            try:
                session.close()
            except Exception:  # pylint: disable=broad-except
                log.warning("activation: the mail connection did not close cleanly", exc_info=True)

    def retirement_signal(self):
        return STANDALONE_USER_RETIRE_LMS_MISC


class LmsBackend(StandaloneBackend):
    """Answers from edx-platform's own roles, course overviews, enrollments and cohorts."""

    def course_staff_runs(self, user, course_runs):
        """Run by run: the LMS's roles are read once per user and request (its ``RoleCache``)."""
        return frozenset(run for run in course_runs if self.is_course_staff(user, parse_course_key(run)))

    def is_course_staff(self, user, course_key):
        # pylint: disable=import-error,import-outside-toplevel
        from common.djangoapps.student.roles import (
            CourseInstructorRole,
            CourseStaffRole,
            GlobalStaff,
            OrgInstructorRole,
            OrgStaffRole,
        )
        if not (user and user.is_authenticated and user.is_active):
            return False
        # Who the LMS's has_access(user, "staff", course_key) lets into the instructor dashboard.
        return (
            GlobalStaff().has_user(user)
            or CourseInstructorRole(course_key).has_user(user)
            or CourseStaffRole(course_key).has_user(user)
            or OrgInstructorRole(course_key.org).has_user(user)
            or OrgStaffRole(course_key.org).has_user(user)
        )

    def is_global_staff(self, user):
        # pylint: disable=import-error,import-outside-toplevel
        from common.djangoapps.student.roles import GlobalStaff
        return bool(user and user.is_authenticated and user.is_active and GlobalStaff().has_user(user))

    def org_roles(self, user):
        """
        The orgs where ``user`` holds the LMS's ``OrgStaffRole`` or ``OrgInstructorRole`` (org-wide
        rows of ``CourseAccessRole``: no course), each confirmed by the role itself.
        """
        # pylint: disable=import-error,import-outside-toplevel
        from opaque_keys.edx.django.models import CourseKeyField

        from common.djangoapps.student.models import CourseAccessRole
        from common.djangoapps.student.roles import OrgInstructorRole, OrgStaffRole
        if not (user and user.is_authenticated and user.is_active):
            return set()
        orgs = set(CourseAccessRole.objects.filter(user=user, course_id=CourseKeyField.Empty,
                                                   role__in=("staff", "instructor")).values_list("org", flat=True))
        return {org for org in orgs
                if org and (OrgStaffRole(org).has_user(user) or OrgInstructorRole(org).has_user(user))}

    def course_exists(self, course_key):
        # pylint: disable=import-error,import-outside-toplevel
        from openedx.core.djangoapps.content.course_overviews.models import CourseOverview
        return bool(CourseOverview.course_exists(course_key))

    def course_title(self, course_key):
        # pylint: disable=import-error,import-outside-toplevel
        from openedx.core.djangoapps.content.course_overviews.models import CourseOverview
        try:
            return CourseOverview.get_from_id(course_key).display_name_with_default
        except CourseOverview.DoesNotExist:
            return str(course_key)

    def run_labels(self, course_runs):
        """The run part with the run's start date, from the course overviews in one query."""
        # pylint: disable=import-error,import-outside-toplevel
        from openedx.core.djangoapps.content.course_overviews.models import CourseOverview
        keys = {run: parse_course_key(run) for run in course_runs}
        starts = dict(CourseOverview.objects.filter(id__in=set(keys.values()), start__isnull=False)
                      .values_list("id", "start"))
        return {run: _("{run} (from {date})").format(run=run_code(key), date=date_format(starts[key]))
                if key in starts else run_code(key) for run, key in keys.items()}

    def segment_for(self, user, course_key):
        return self.segments_for([(user, course_key)])[(user.pk, course_key)]

    def segments_for(self, pairs):
        """
        One answer for live windows and backfilled ones: the enrollment mode, and the cohort the
        learner is in if the run has cohorts on (``get_cohort(assign=False)``'s answer). A run
        whose cohort settings cannot be read (the LMS raises Http404) keeps its modes, without cohorts.
        """
        # pylint: disable=import-error,import-outside-toplevel
        from common.djangoapps.student.models import CourseEnrollment
        from openedx.core.djangoapps.course_groups.cohorts import is_course_cohorted
        from openedx.core.djangoapps.course_groups.models import CohortMembership, CourseUserGroup
        users, runs = {user.pk for user, _run in pairs}, {run for _user, run in pairs}
        modes = {(user_id, run): mode for user_id, run, mode in CourseEnrollment.objects.filter(
            user_id__in=users, course_id__in=runs).values_list("user_id", "course_id", "mode")}
        cohorted = {run for run in runs if _or_fallback(f"whether {run} has cohorts", False,
                                                        functools.partial(is_course_cohorted, run))}
        cohorts = {(user_id, run): name for user_id, run, name in CohortMembership.objects.filter(
            user_id__in=users, course_id__in=cohorted, course_user_group__group_type=CourseUserGroup.COHORT,
        ).values_list("user_id", "course_id", "course_user_group__name")} if cohorted else {}
        return {(user.pk, run): {"enrollment_mode": modes.get((user.pk, run)) or "", "org": run.org,
                                 "cohort": cohorts.get((user.pk, run), "")} for user, run in pairs}

    def enrolled_among(self, catalog_course, user_ids):
        """Those of ``user_ids`` with an active enrollment in any run of the catalog course."""
        # pylint: disable=import-error,import-outside-toplevel
        from common.djangoapps.student.models import CourseEnrollment
        return set(in_runs_of(CourseEnrollment.objects.filter(user_id__in=user_ids, is_active=True),
                              catalog_course).values_list("user_id", flat=True))

    def completions(self, catalog_course, trigger, *, since, after=0, limit=1000):
        """Passing grades (``PersistentCourseGrade.passed_timestamp``) or passing certificates."""
        # pylint: disable=import-error,import-outside-toplevel
        if trigger == "certificate":
            from lms.djangoapps.certificates.data import CertificateStatuses
            from lms.djangoapps.certificates.models import GeneratedCertificate
            records = GeneratedCertificate.objects.filter(
                status__in=CertificateStatuses.PASSED_STATUSES, created_date__gte=since).values_list(
                "id", "user_id", "course_id", "created_date")
        else:
            from lms.djangoapps.grades.models import PersistentCourseGrade
            records = PersistentCourseGrade.objects.filter(passed_timestamp__gte=since).values_list(
                "id", "user_id", "course_id", "passed_timestamp")
        records = in_runs_of(records, catalog_course).filter(id__gt=after).order_by("id")
        return [Completion(*row) for row in records[:limit]]

    def language_for(self, user):
        # pylint: disable=import-error,import-outside-toplevel
        from openedx.core.djangoapps.user_api.preferences.api import get_user_preference
        return get_user_preference(user, "pref-lang") or settings.LANGUAGE_CODE

    def languages_for(self, users):
        # pylint: disable=import-error,import-outside-toplevel
        from openedx.core.djangoapps.user_api.models import UserPreference
        chosen = dict(UserPreference.objects.filter(user__in=users, key="pref-lang").values_list("user_id", "value"))
        return {user.pk: chosen.get(user.pk) or settings.LANGUAGE_CODE for user in users}

    def email_context(self):
        """
        The LMS's own email layout (``ace_common``'s base: its logo, links and footer) and the
        context it reads, for the current (or emulated) request's site; the plugin's base where an
        LMS has no such template.
        """
        if not has_lms_email_base():
            return super().email_context()
        # pylint: disable=import-error,import-outside-toplevel
        from openedx.core.djangoapps.ace_common.template_context import get_base_template_context
        return {**get_base_template_context(None), "base_template": LMS_EMAIL_BASE_TEMPLATE,
                "base_head_template": LMS_EMAIL_BASE_HEAD_TEMPLATE}

    def send_message(self, *, user, subject, body, language=None, email=None, footer="", action=None,
                     session=None):
        """
        Through edx-ace, like the LMS's own mail, so operators' channels and templates apply.
        edx-ace logs rather than raises some delivery errors (SMTP refusals): those are not retried.
        edx-ace's channels hold their own connections: no ``session``.
        """
        # pylint: disable=import-outside-toplevel
        from edx_ace import ace
        from edx_ace.recipient import Recipient

        from activation_plugin.message_types import FollowUp
        with self._template_request(user):
            message = FollowUp().personalize(
                recipient=Recipient(lms_user_id=user.id if user else None, email_address=email or user.email),
                language=language,
                user_context=email_context(subject, body, footer, action, _or_fallback(
                    "the LMS's email layout", StandaloneBackend().email_context(), self.email_context),
                    linkify=email is None),
            )
            ace.send(message)

    def mail_session(self):
        """edx-ace's channels hold their own connections: nothing to share."""
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def _template_request(self, user):
        """
        ``ace_common``'s base builds its links from the current request (its site, its user): a view
        has one, the tick (celery, cron) has none, so one is emulated there as the LMS's own tasks
        do around ``ace.send``. Never over a view's own: emulating ends by clearing it.
        """
        # pylint: disable=import-error,import-outside-toplevel
        from crum import get_current_request
        if get_current_request() is not None or not has_lms_email_base():
            yield
            return
        from django.contrib.auth.models import AnonymousUser
        from django.contrib.sites.models import Site

        from openedx.core.lib.celery.task_utils import emulate_http_request
        with emulate_http_request(site=Site.objects.get_current(), user=user or AnonymousUser()):
            yield

    def retirement_signal(self):
        # pylint: disable=import-error,import-outside-toplevel
        from openedx.core.djangoapps.user_api.accounts.signals import USER_RETIRE_LMS_MISC
        return USER_RETIRE_LMS_MISC


def in_runs_of(records, catalog_course, field="course_id"):
    """
    ``records`` of every run of a catalog course (``Org+Course``): its course runs, its CCXs and
    old-style keys. A key field refuses a key's prefix as a lookup value, so the prefix is matched
    on the same column read as text (still ``LIKE 'prefix%'``, which its index serves).
    """
    org, course = catalog_course.split("+", 1)
    condition = Q()
    for prefix in (f"course-v1:{org}+{course}+", f"ccx-v1:{org}+{course}+", f"{org}/{course}/"):
        condition |= Q(run_as_text__startswith=prefix)
    return records.alias(run_as_text=ExpressionWrapper(F(field), output_field=CharField())).filter(condition)


class StandaloneCourseWaffleFlag(WaffleFlag):
    """
    Outside the LMS, edx-platform's ``CourseWaffleFlag`` is absent: the same flag without per-course
    overrides, taking (and ignoring) the course key so callers are the same in both hosts.
    """

    def is_enabled(self, course_key=None):  # pylint: disable=unused-argument
        return super().is_enabled()


def course_waffle_flag(name, module_name):
    """The LMS's ``CourseWaffleFlag`` (overrides per course in its admin), or its standalone stand-in."""
    try:
        # pylint: disable=import-outside-toplevel
        from openedx.core.djangoapps.waffle_utils import CourseWaffleFlag
    except ImportError:
        return StandaloneCourseWaffleFlag(name, module_name)
    # The flag is declared, with its annotations, where it is named: activation_plugin/toggles.py.
    return CourseWaffleFlag(name, module_name)  # pylint: disable=toggle-missing-annotation


@functools.cache
def _backend_for(dotted_path):
    return import_string(dotted_path)()


def backend():
    """The backend chosen by ``ACTIVATION_PLATFORM_BACKEND``."""
    return _backend_for(settings.ACTIVATION_PLATFORM_BACKEND)


def is_course_staff(user, course_key):
    return backend().is_course_staff(user, course_key)


def is_global_staff(user):
    return backend().is_global_staff(user)


def course_staff_runs(user, course_runs):
    """The runs of ``course_runs`` (keys as text) whose learners ``user`` sees row by row, as staff."""
    return backend().course_staff_runs(user, course_runs)


def portfolio_orgs(user):
    """
    The orgs whose portfolio ``user`` may see: None for every org (global staff, and members of
    the Django group ``ACTIVATION_PORTFOLIO_GROUP``), else the orgs of their org-wide roles (empty:
    none). Course staff of single runs see their courses on the course pages, not here.
    """
    if not (user and user.is_authenticated and user.is_active):
        return set()
    group = settings.ACTIVATION_PORTFOLIO_GROUP
    if is_global_staff(user) or group and user.groups.filter(name=group).exists():
        return None
    return backend().org_roles(user)


def course_exists(course_key):
    return backend().course_exists(course_key)


def course_title(course_key):
    return backend().course_title(course_key)


def run_code(course_run):
    """The run part of a course run's key (``2026_T1``); a CCX's adds its number; text that is no key stays as it is."""
    try:
        key = parse_course_key(course_run)
    except ActivationRequestError:
        return str(course_run)
    return _("{run}, CCX {ccx}").format(run=key.run, ccx=key.ccx) if is_ccx(key) else key.run


def run_labels(course_runs):
    """``{course_run: label}``; the runs' codes if the platform cannot answer."""
    course_runs = set(course_runs)
    return _or_fallback("the names of course runs", {run: run_code(run) for run in course_runs},
                        lambda: backend().run_labels(course_runs))


def _or_fallback(question, fallback, ask):
    """
    The platform's answer, or ``fallback`` when asking failed: a segment or a language is a detail,
    and a completion must not be lost over one (the LMS's cohort lookup raises Http404 when the
    course's cohort settings cannot be read). A savepoint keeps the caller's transaction usable.
    """
    try:
        with transaction.atomic():
            return ask()
    except Exception:  # pylint: disable=broad-except
        log.warning("activation: the platform could not answer %s; using %r", question, fallback, exc_info=True)
        return fallback


def empty_segment(course_key):
    return {"enrollment_mode": "", "org": course_key.org, "cohort": ""}


def segment_for(user, course_key):
    return _or_fallback(f"the segment of user {user.pk} in {course_key}", empty_segment(course_key),
                        lambda: backend().segment_for(user, course_key))


def segments_for(pairs):
    """``{(user_id, course_run): segment}``; empty segments if the platform cannot answer."""
    return _or_fallback("the segments of a batch of learners",
                        {(user.pk, run): empty_segment(run) for user, run in pairs},
                        lambda: backend().segments_for(pairs))


def enrolled_among(catalog_course, user_ids):
    """
    Which of ``user_ids`` are enrolled in a run of ``catalog_course``: not untrained colleagues for
    the course effect. If the platform cannot answer, none is known to be (and a warning is logged).
    """
    user_ids = set(user_ids)
    if not user_ids:
        return set()
    return _or_fallback(f"who is enrolled in {catalog_course}", set(),
                        lambda: backend().enrolled_among(catalog_course, user_ids))


def completions(catalog_course, trigger, *, since, after=0, limit=1000):
    return backend().completions(catalog_course, trigger, since=since, after=after, limit=limit)


def language_for(user):
    return _or_fallback(f"the language of user {user.pk}", settings.LANGUAGE_CODE,
                        lambda: backend().language_for(user))


def languages_for(users):
    return _or_fallback("the languages of a batch of learners",
                        {user.pk: settings.LANGUAGE_CODE for user in users},
                        lambda: backend().languages_for(users))


def send_message(*, subject, body, user=None, email=None, language=None, footer="", action=None, session=None):
    return backend().send_message(user=user, subject=subject, body=body, language=language, email=email,
                                  footer=footer, action=action, session=session)


def mail_session():
    """A context whose value, passed to ``send_message(session=…)``, sends a group of mails over one connection."""
    return backend().mail_session()


def render_email(*, subject, body, language=None, footer="", action=None):
    """A learner's mail as it will arrive, ``(text, html)``, in the layout this platform's mail has."""
    return backend().render_email(subject=subject, body=body, language=language, footer=footer, action=action)


EMAIL_TEMPLATES = "activation_plugin/edx_ace/followup/email"
EMAIL_BASE_TEMPLATE = "activation_plugin/edx_ace/email_base.html"
EMAIL_BASE_HEAD_TEMPLATE = "activation_plugin/edx_ace/email_base_head.html"
LMS_EMAIL_BASE_TEMPLATE = "ace_common/edx_ace/common/base_body.html"
LMS_EMAIL_BASE_HEAD_TEMPLATE = "ace_common/edx_ace/common/base_head.html"


def has_lms_email_base():
    """Whether this LMS has ``ace_common``'s email base (edx-platform's, or a theme's) to extend."""
    try:
        get_template(LMS_EMAIL_BASE_TEMPLATE)
    except TemplateDoesNotExist:
        return False
    return True


def html_document(head, body):
    """The HTML part as edx-ace's Django email channel assembles it, so the demo's is the LMS's."""
    return f"""<!DOCTYPE html>
<html>
  <head>
    {head}
  </head>
  <body>
    {body}
  </body>
</html>"""


def email_context(subject, body, footer, action, layout, linkify=True):
    """
    What the followup templates render: the text, the footer, the button (``action``: label, url).
    ``linkify`` makes the text's addresses clickable: only in mail to a learner, whose text the
    instructor wrote; mail to a stranger carries text the learner controls (their name), where
    "Claim prize at paypa1-login.com" must stay words, and its one link is the button.
    """
    label, url = action or ("", "")
    return {**layout, "subject": subject, "body": body, "footer": footer, "action_label": label, "action_url": url,
            "linkify": linkify}


def __getattr__(name):
    """``USER_RETIRE_LMS_MISC`` resolves to the backend's signal when receivers are connected."""
    if name == "USER_RETIRE_LMS_MISC":
        return backend().retirement_signal()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
