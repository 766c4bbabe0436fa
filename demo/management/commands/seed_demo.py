"""
Seed the demo: one course with two runs, an instructor, 240 learners, an active activation
definition, real openedx-events completion signals, learner evidence and staff reviews, and the
contact centres' handle times.

Run 1 activates about 15 % of the completers whose window has ended, run 2 (after the course
was improved) about 33 %: the kind of cohort difference the Activation tab must show with its
uncertainty. A fifth of completers are held out (fewer of them apply it unprompted), under a
plan registered before its result is read (18 % → 29 %, the completers that needs), so the tab
warns that the holdout difference is provisional. Verified learners answer more often than
auditors (the "Who answers?" panel), and two supervisors confirm a learner each (the strongest
success cases). The definition also counts a learner's handle time falling 15 % below their own
baseline, which the contact centres' CRM pushes: the learners who activated cut theirs by about
26 %, those who did not by about 5 %, and the prompted learners' fell 23 seconds more than the
held-out learners' (the follow-up's effect: the KPI panel's deltas and difference-in-differences,
with their intervals). The CRM holds the whole team: completers' times fell 39 seconds more than
colleagues who never took it, over the same weeks (the course's own effect, observational).
The runs' history is lived day by day, so prompts and reminders go out before the answers they
draw, and the funnel reads in order. Deterministic, and safe to run twice: replayed events and
evidence keys change nothing.
"""
import functools
import random
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from opaque_keys.edx.keys import CourseKey
from openedx_events.learning.data import (
    CertificateData,
    CourseData,
    CoursePassingStatusData,
    UserData,
    UserPersonalData,
)
from openedx_events.learning.signals import CERTIFICATE_CREATED, COURSE_PASSING_STATUS_UPDATED

from activation_plugin import api, links, stats
from activation_plugin.api import definitions, metric_sources
from activation_plugin.errors import ActivationRequestError
from activation_plugin.kpi import sources
from activation_plugin.models import ActivationWindow, Evidence, PromptDelivery, Review
from activation_plugin.platform import STAFF_GROUP_PREFIX
from demo import fake_kpi
from demo.models import DemoCompletionRecord, DemoCourse, DemoEnrollment

TITLE = "Applied Customer Service"
KPI_SOURCE = "demo-crm-push"
RUNS = [
    # (run key, learners, days ago the completions start, spread in days, activation share)
    ("course-v1:ActivationX+APPLY101+2026_T1", 120, 200, 40, 0.18),
    ("course-v1:ActivationX+APPLY101+2026_T2", 120, 130, 100, 0.40),
]
COMPLETION_SHARE = 0.85
# Share of prompted completers who submit: the staff verify 84 % of submissions, so this many
# submitters give each run's activation share among the prompted.
SUBMITTER_FACTOR = 1 / 0.84
# Held-out learners get no prompts; some apply it and tell anyway, fewer than the prompted.
HOLDOUT_FACTOR = 0.5
PASSWORDS = {"admin": "admin", "instructor": "instructor"}
LEARNER_PASSWORD = "learner"
# Completed a few days ago and has not submitted a project yet: the learner page shows an open window, in
# the prompted arm (tests/test_demo_seed.py checks it), so the prompts and the supervisor form show. They
# answered the survey "Not yet", which the page says does not count as applying the skill.
DEMO_LEARNER = "learner238"
USED_IT = ["Yes, several times", "Yes, once"]
NOT_YET = {"q1": "Not yet", "q2": 2, "q3": "I have not had a chance to use it yet."}

DEFINITION = {
    "name": "De-escalation on live calls",
    "behavior": "Uses the acknowledge–clarify–resolve script to calm an upset customer on a real call.",
    "trigger": "passing",
    "window_days": 45,
    "rule": "any",
    "holdout_percent": 20,
    "holdout_seed": "activation-demo-2026",  # the same learners are held out on every machine
    "requirements": [
        {
            "kind": "project", "title": "Applied project: a call you de-escalated",
            "verification": "staff",
            "config": {
                "instructions": "Describe a real call where you used the script: the situation, what you said, "
                                "and how the customer responded. Link a redacted transcript if you can.",
                "rubric": [{"criterion": "Uses all three steps", "max_score": 3},
                           {"criterion": "Outcome described", "max_score": 2}],
            },
            "prompts": [{"send_after_days": 7, "reminder_days": [21, 35],
                         "subject": "How did the de-escalation script work on the job?",
                         "body": "Hi {learner_name}, tell us about a call where you used what you learned "
                                 "in {course_name} before {deadline}: {link}"}],
        },
        {
            "kind": "observation", "title": "Supervisor observation", "verification": "supervisor",
            "config": {"checklist": ["Acknowledges the customer's frustration", "Clarifies the problem",
                                     "Proposes a concrete resolution"]},
        },
        {
            "kind": "survey", "title": "Did you use the script?",
            "config": {"questions": [
                {"id": "q1", "type": "single_choice", "options": [*USED_IT, "Not yet"],
                 "text": "Have you used the acknowledge–clarify–resolve script on a real call?"},
                {"id": "q2", "type": "likert", "text": "How confident are you using it?"},
                {"id": "q3", "type": "text", "text": "What happened?", "required": False},
            ], "activation_condition": {"match": "all", "answers": [{"question": "q1", "options": USED_IT}]}},
        },
        {
            "kind": "metric", "title": "Average handle time down 15 % on your own baseline",
            "config": {"metric": "handle_time", "threshold": -0.15, "direction": "lower", "relative": True,
                       "baseline_days": 30, "label": "Average handle time", "unit": "seconds"},
        },
    ],
}
# The handle time's change inside the window against the learner's own baseline, drawn in these
# ranges: learners whose project was verified (they applied the script) gain far more than the
# others, and prompted ones a little more than the holdout. Only the first reach the requirement's
# 15 %, and they are activated already, so the KPI leaves the runs' rates as they are.
HANDLE_TIME_CHANGE = {"applied": (-0.30, -0.22), "prompted": (-0.09, -0.03), "holdout": (-0.05, 0.0)}
# Colleagues in the CRM who never took the course, and how much faster they get in 240 days (a shared trend).
COLLEAGUES, COLLEAGUES_TREND = 24, 0.04


def _user_data(user):
    return UserData(id=user.id, is_active=True,
                    pii=UserPersonalData(username=user.username, email=user.email, name=user.get_full_name()))


class Command(BaseCommand):
    """``manage.py seed_demo``: what ``make demo`` runs before serving (the module docstring tells the story)."""

    help = "Seed the demo course, learners and completion events (idempotent)."

    def handle(self, *args, **options):
        rng = random.Random(2026)
        now = timezone.now().replace(microsecond=0)
        with transaction.atomic():
            instructor, definition = self._course_and_staff()
        events, submissions = 0, []
        for run_index, (run, learners, start_days, spread, share) in enumerate(RUNS):
            key = CourseKey.from_string(run)
            for number in range(1, learners + 1):
                learner = self._learner(run_index * learners + number, key, rng)
                if learner.username == DEMO_LEARNER:
                    events += self._complete(learner, key, now - timedelta(days=5), rng)
                    continue
                if rng.random() > COMPLETION_SHARE:
                    continue
                completed_at = now - timedelta(days=start_days - rng.uniform(0, spread))
                events += self._complete(learner, key, completed_at, rng)
                submissions += self._planned_submission(learner, definition, share, now, rng)
        self._replay_days(definition, instructor, sorted(submissions, key=lambda plan: plan[0]), now)
        windows = len(submissions)
        kpi = self._kpi_observations(definition, now)
        self._supervisor_confirmations(definition, now)
        self._not_yet(definition)
        self._plan(definition, instructor, now)
        result = api.tick(now=now)
        self.stdout.write(self.style.SUCCESS(
            f"Seeded {TITLE}: {events} completion events fired, {windows} learners submitted evidence, "
            f"{PromptDelivery.objects.filter(status=PromptDelivery.Status.SENT).count()} prompts and reminders sent "
            f"as the days went by ({result['sent']} just now), "
            f"{kpi['received']} KPI observations pushed ({kpi['stored']} new, {kpi['matched']} matched)."
        ))
        for summary_definition, summary in api.course_summaries(RUNS[0][0]):
            self.stdout.write(f"  {summary_definition.name}: {summary['activated']} activated of "
                              f"{summary['eligible']} eligible, {summary['open']} open")
        self._print_help()

    def _course_and_staff(self):
        """The course, its two runs, the instructor (course staff through the standalone group) and the admin."""
        user_model = get_user_model()
        admin, created = user_model.objects.get_or_create(
            username="admin", defaults={"email": "admin@demo.localhost", "is_staff": True, "is_superuser": True})
        if created:
            admin.set_password(PASSWORDS["admin"])
            admin.save()
        instructor, created = user_model.objects.get_or_create(
            username="instructor", defaults={"email": "instructor@demo.localhost", "first_name": "Ines"})
        if created:
            instructor.set_password(PASSWORDS["instructor"])
            instructor.save()
        for run, *_ in RUNS:
            DemoCourse.objects.get_or_create(course_key=CourseKey.from_string(run), defaults={"display_name": TITLE})
            Group.objects.get_or_create(name=f"{STAFF_GROUP_PREFIX}{run}")[0].user_set.add(instructor)
        definition = definitions.definitions_for_course(RUNS[0][0]).filter(name=DEFINITION["name"]).first()
        if definition is None:
            definition = definitions.create_definition(course_key=RUNS[0][0], created_by=instructor, **DEFINITION)
            # Windows must open from the first completion on, so the definition predates run 1.
            definitions.activate_definition(definition)
        return instructor, definition

    @functools.cached_property
    def _learner_password_hash(self):
        """Hashed once: hashing 240 passwords one by one takes over a minute."""
        return make_password(LEARNER_PASSWORD)

    def _learner(self, number, key, rng):
        """One learner, enrolled in ``key`` in a track and cohort drawn from ``rng`` (the same every run)."""
        username = f"learner{number:03d}"
        learner, _created = get_user_model().objects.get_or_create(username=username, defaults={
            "email": f"{username}@demo.localhost", "first_name": f"Learner {number}",
            "password": self._learner_password_hash,
        })
        DemoEnrollment.objects.get_or_create(user=learner, course_key=key, defaults={
            "mode": "verified" if rng.random() < 0.4 else "audit",
            "cohort": rng.choice(["Contact centre A", "Contact centre B", "Field sales"]),
        })
        return learner

    def _complete(self, learner, key, completed_at, rng):
        """Fire what the LMS fires: a failing grade first for some, then passing (and a replay), then a cert."""
        course = CourseData(course_key=key, display_name=TITLE)
        sent = 0
        if rng.random() < 0.2:
            COURSE_PASSING_STATUS_UPDATED.send_event(time=completed_at - timedelta(days=3), course_passing_status=(
                CoursePassingStatusData(is_passing=False, course=course, user=_user_data(learner))))
            sent += 1
        # The LMS stores the grade and the certificate, then tells the plugins: so does the demo
        # (activation_backfill reads these records back).
        DemoCompletionRecord.objects.get_or_create(user=learner, course_key=key, trigger="passing",
                                                   defaults={"completed_at": completed_at})
        DemoCompletionRecord.objects.get_or_create(user=learner, course_key=key, trigger="certificate",
                                                   defaults={"completed_at": completed_at + timedelta(hours=1)})
        for _ in range(2 if rng.random() < 0.1 else 1):  # a replayed event must change nothing
            COURSE_PASSING_STATUS_UPDATED.send_event(time=completed_at, course_passing_status=(
                CoursePassingStatusData(is_passing=True, course=course, user=_user_data(learner))))
            sent += 1
        CERTIFICATE_CREATED.send_event(time=completed_at + timedelta(hours=1), certificate=CertificateData(
            user=_user_data(learner), course=course, mode="verified", grade="0.82", download_url="",
            name=learner.get_full_name(), current_status="downloadable"))
        return sent + 1

    def _planned_submission(self, learner, definition, share, now, rng):
        """
        Whether and when this completer submits a project, and the staff's verdict: ``[(submitted_at,
        window, verified)]`` or ``[]``. Most submit soon after the first prompt (day 7).
        """
        window = ActivationWindow.objects.filter(definition=definition, user=learner).first()
        if window is None:
            return []
        if window.arm == ActivationWindow.Arm.HOLDOUT:
            share *= HOLDOUT_FACTOR
        # Verified learners answer more often than auditors, a non-response pattern the tab shows
        # (its "Who answers?" panel): 40 % verified × 1.5 + 60 % audit × 2/3 keeps the run's share.
        mode = DemoEnrollment.objects.filter(user=learner, course_key=window.course_run).values_list(
            "mode", flat=True).first()
        if rng.random() > share * SUBMITTER_FACTOR * (1.5 if mode == "verified" else 2 / 3):
            return []
        submitted_at = window.opened_at + timedelta(days=rng.triangular(1, definition.window_days - 1, 8))
        verified = rng.random() < 0.84
        return [] if submitted_at > now else [(submitted_at, window, verified)]

    def _replay_days(self, definition, instructor, submissions, now):
        """
        Live the runs' history day by day: the tick sends the prompts and reminders that fell due
        that day (activated learners get none), then that day's submissions arrive and staff review
        those older than three days. So prompts come before the answers they draw, as in a course.
        """
        first = ActivationWindow.objects.filter(definition=definition).order_by("opened_at").first()
        if first is None:
            return
        day, pending = first.opened_at, list(submissions)
        while day <= now:
            api.tick(now=day)
            while pending and pending[0][0] <= day:
                self._submit(definition, instructor, *pending.pop(0), now)
            day += timedelta(days=1)
        for plan in pending:
            self._submit(definition, instructor, *plan, now)

    def _submit(self, definition, instructor, submitted_at, window, verified, now):
        """A learner's project on its day, with the instructor's verdict; replayed keys change nothing."""
        project = definition.requirements.get(kind="project")
        evidence = api.record_evidence(
            window=window, requirement=project, source=Evidence.Source.LEARNER, submitted_at=submitted_at,
            idempotency_key=f"demo:{window.user.username}:{project.pk}",
            payload={"url": f"https://example.org/calls/{window.user.username}",
                     "text": "Used the acknowledge–clarify–resolve script with an upset customer; "
                             "the call ended with a resolution and a thank-you."},
        )
        if submitted_at < now - timedelta(days=3):
            verdict = Review.Verdict.VERIFIED if verified else Review.Verdict.REJECTED
            try:
                api.review_evidence(evidence, verdict=verdict, role=Review.Role.STAFF, reviewer=instructor,
                                    comment="Clear use of all three steps." if verified else
                                    "Please describe what you said to the customer.")
            except ActivationRequestError:
                pass  # seeded before: the instructor's review already stands

    def _kpi_observations(self, definition, now):
        """
        Push the contact centres' handle times into the demo's webhook source through the api, as
        their CRM's signed deliveries would: two in the 30 days before each window (the baseline)
        and two inside it, from the verified project on for those who applied the script, plus ids
        that match nobody. So the page has KPI deltas and a difference-in-differences to show. Times
        hang on the windows and the evidence, so a second seed stores nothing new.
        """
        source = metric_sources.sync_metric_source(sources.get(KPI_SOURCE))
        applied = dict(Evidence.objects.filter(
            window__definition=definition, requirement__kind="project", status=Evidence.Status.VERIFIED,
        ).values_list("window_id", "submitted_at"))
        windows = (ActivationWindow.objects.filter(definition=definition, cohort__startswith="Contact centre")
                   .select_related("user").order_by("user__username"))
        records = []
        for window in windows:
            usual = fake_kpi.usual_handle_seconds(int(window.user.username.removeprefix("learner")))
            group = "applied" if window.pk in applied else window.arm
            change = random.Random(f"{KPI_SOURCE}:{window.user.username}").uniform(*HANDLE_TIME_CHANGE[group])
            after = usual * (1 + change)
            since = applied.get(window.pk, window.opened_at)
            for at, value in ((window.opened_at - timedelta(days=20), usual + 12),
                              (window.opened_at - timedelta(days=6), usual - 12),
                              (since + timedelta(days=3), after + 8), (since + timedelta(days=12), after - 8)):
                if at < min(now, window.closes_at):
                    records.append({"external_id": window.user.email, "metric": "handle_time", "value": round(value),
                                    "observed_at": at.isoformat()})
        anchor = min((window.opened_at for window in windows), default=now)
        records += [{"external_id": f"EMP-{9000 + n}", "metric": "handle_time", "value": 300 + n,
                     "observed_at": (anchor + timedelta(days=n)).isoformat()} for n in range(5)]
        records += self._untrained_colleagues(anchor, now)
        return api.ingest_observations(source, records, strict=True)

    @staticmethod
    def _untrained_colleagues(anchor, now):
        """
        The CRM holds the whole contact centre: colleagues who never took the course, measured every
        five days from the first baseline on, a little faster as the months pass (a trend everyone
        shares, new tools say), so the page's course effect sets the completers' change against theirs.
        """
        start = anchor - timedelta(days=30)
        span = (now - start) / timedelta(days=1)
        return [{"external_id": f"EMP-{7000 + colleague}", "metric": "handle_time",
                 "value": round((360 + colleague * 53 % 120) * (1 - COLLEAGUES_TREND * day / 240)
                                + (colleague + day * 7) % 21 - 10),
                 "observed_at": (start + timedelta(days=day, hours=colleague % 9)).isoformat()}
                for colleague in range(1, COLLEAGUES + 1) for day in range(0, int(span), 5)
                if start + timedelta(days=day, hours=colleague % 9) < now]

    def _supervisor_confirmations(self, definition, now):
        """
        Two supervisors confirm what they saw on the job (the strongest evidence, so the two top
        success cases), through the real invitation and link. Learners whose window is still
        running in run 2; a learner already confirmed is left alone on a second seed.
        """
        observation = definition.requirements.get(kind="observation")
        running = (ActivationWindow.objects.filter(definition=definition, course_run=RUNS[1][0], closes_at__gt=now,
                                                   arm=ActivationWindow.Arm.PROMPTED)
                   .select_related("user").order_by("user__username"))
        for number, window in enumerate(running[:2]):
            if window.supervisor_invites.filter(used_at__isnull=False).exists():
                continue
            invite = api.invite_supervisor(window, observation, f"team.lead{number + 1}@contact-centre.example")
            token = links.supervisor_url(invite).rstrip("/").rsplit("/", 1)[1]
            api.record_supervisor_observation(token, dict.fromkeys(observation.config["checklist"], True),
                                              "Saw it on a live call this week.")

    def _not_yet(self, definition):
        """
        The README's learner answers the survey "Not yet", as on their page: a response (the funnel's
        "responded"), not evidence of activation, since only a "yes" meets the survey's condition.
        """
        window = ActivationWindow.objects.get(definition=definition, user__username=DEMO_LEARNER)
        survey = definition.requirements.get(kind="survey")
        api.save_learner_response(window=window, requirement=survey, payload={"answers": NOT_YET},
                                  idempotency_key=f"demo:{DEMO_LEARNER}:{survey.pk}")

    def _plan(self, definition, instructor, now):
        """The holdout's plan, registered before its result is read: 18 % → 29 %, with the completers it needs."""
        if definition.comparison_plan:
            return
        needed = stats.learners_needed(0.18, 0.29, 1 - definition.holdout_percent / 100)
        api.register_plan(definition, hypothesis="Follow-up prompts raise the activation rate from 18 % to 29 %.",
                          primary_figure="holdout_difference", sample_size=needed,
                          end_date=(now + timedelta(days=120)).date(), registered_by=instructor)

    def _print_help(self):
        """Where to go and how to sign in: the demo's one page of instructions, at the URL it serves on."""
        run, root = RUNS[1][0], settings.LMS_ROOT_URL
        port = "" if settings.DEMO_PORT == 8000 else f"DEMO_PORT={settings.DEMO_PORT} "
        self.stdout.write(f"\nOpen {root}/ and log in as:")
        self.stdout.write(f"  instructor / {PASSWORDS['instructor']}  → instructor dashboard with the Activation "
                          f"section: {root}/courses/{run}/instructor/")
        self.stdout.write(f"                           standalone instructor page: {root}/activation/courses/{run}/")
        self.stdout.write(f"  {DEMO_LEARNER} / {LEARNER_PASSWORD}   → learner page: {root}/activation/learner/{run}/")
        self.stdout.write(f"  mail the plugin sent (prompts, reminders, opt-out links): {root}/outbox/")
        self.stdout.write(f"  KPI data of the course (instructor): {root}/activation/courses/{run}/kpi/")
        self.stdout.write(f"  every KPI source with its match report (admin): {root}/activation/kpi/sources/")
        self.stdout.write("  pull the stand-in helpdesk API while the server runs: "
                          f"{port}./manage.py activation_pull_metrics --all")
        self.stdout.write(f"  admin / {PASSWORDS['admin']}             → Django admin: {root}/admin/")
