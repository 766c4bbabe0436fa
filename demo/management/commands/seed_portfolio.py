"""
Seed the portfolio's story (issue 33): the demo's org, ActivationX, gets eight more courses beside
Applied Customer Service, so /activation/portfolio/ has something to compare. Most apply the skill
at about a quarter to a third of completers; Workplace Safety Walks truly better (62 %), Data-Driven
Decisions truly worse (8 %); Pitching Ideas is small and lucky: 9 of 14 (64 %) tops Safety's raw
rate, but its shrunken rate ranks it below Safety; two tiny courses stay hidden.
Coaching Conversations has two runs, the second better. The org's lead (``orglead``) sees the org's
portfolio as org-wide staff (the group ``activation-org:ActivationX``).

Windows open through the api as completions would, learners report the skill applied (verified
self-reports) and the tick expires the rest; counts are fixed, not drawn, so every machine shows
the same plot. Run after ``seed_demo``; safe to run twice.
"""
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from opaque_keys.edx.keys import CourseKey

from activation_plugin import api
from activation_plugin.api import definitions
from activation_plugin.models import LateTally
from activation_plugin.platform import ORG_GROUP_PREFIX
from demo.models import DemoCourse

ORG = "ActivationX"
LEAD = ("orglead", "orglead")
# (catalog course, title, [(run, completers whose window has ended, activated, days ago they completed)])
COURSES = [
    ("COACH201", "Coaching Conversations", [("2025_T2", 80, 18, 300), ("2026_T1", 90, 32, 120)]),
    ("SAFETY110", "Workplace Safety Walks", [("2026_T1", 120, 74, 150)]),
    ("DATA150", "Data-Driven Decisions", [("2026_T1", 130, 10, 140)]),
    ("NEGOT210", "Negotiation Basics", [("2026_T1", 90, 25, 110)]),
    ("FEED120", "Giving Feedback", [("2026_T1", 100, 31, 130)]),
    ("PITCH105", "Pitching Ideas", [("2026_T1", 14, 9, 100)]),
    ("EMAIL101", "Email Etiquette", [("2026_T1", 6, 2, 90)]),
    ("TIME102", "Time Boxing", [("2026_T1", 4, 1, 90)]),
]
PROJECT = {"kind": "project", "title": "Tell us how you used it", "verification": "none",
           "config": {"instructions": "Describe one time you used it at work in the weeks after the course."}}


class Command(BaseCommand):
    """``manage.py seed_portfolio``: ``make demo`` runs it after ``seed_demo`` (the module docstring says why)."""

    help = "Seed more courses in the demo's org for the portfolio page (idempotent; after seed_demo)."

    def handle(self, *args, **options):
        now = timezone.now().replace(microsecond=0)
        password = make_password("learner")
        with transaction.atomic():
            self._lead()
            seeded = []
            for course, title, runs in COURSES:
                definition = self._definition(course, title, runs)
                seeded.append(definition.pk)
                for run, completers, activated, days_ago in runs:
                    self._run(definition, f"course-v1:{ORG}+{course}+{run}", completers, activated,
                              now - timedelta(days=days_ago), password)
        api.tick(now=now)
        # The seed writes past runs today: their evidence happened on its own days, not as late changes
        # to windows released long ago (ADR 0016, "Late changes"), which the org's lead would otherwise
        # see only once later windows end with them. After the tick, which counts what waited for it.
        LateTally.objects.filter(definition__in=seeded).delete()
        self.stdout.write(self.style.SUCCESS(
            f"Seeded {len(COURSES)} more {ORG} courses: the portfolio is at /activation/portfolio/ "
            f"(admin, or the org's lead: {LEAD[0]} / {LEAD[1]})."))

    @staticmethod
    def _lead():
        lead, created = get_user_model().objects.get_or_create(
            username=LEAD[0], defaults={"email": "orglead@demo.localhost", "first_name": "Olga"})
        if created:
            lead.set_password(LEAD[1])
            lead.save()
        Group.objects.get_or_create(name=f"{ORG_GROUP_PREFIX}{ORG}")[0].user_set.add(lead)

    @staticmethod
    def _definition(course, title, runs):
        """The course's runs and its active definition, authored in its first run."""
        first_run = f"course-v1:{ORG}+{course}+{runs[0][0]}"
        for run, *_ in runs:
            DemoCourse.objects.get_or_create(course_key=CourseKey.from_string(f"course-v1:{ORG}+{course}+{run}"),
                                             defaults={"display_name": title})
        definition = definitions.definitions_for_course(first_run).first()
        if definition is None:
            definition = definitions.activate_definition(definitions.create_definition(
                course_key=first_run, name=f"Applies {title.lower()} at work", window_days=30,
                behavior=f"Uses what {title} taught in their job.", requirements=[PROJECT]))
        return definition

    @staticmethod
    def _run(definition, run, completers, activated, completed_at, password):
        """
        ``completers`` learners pass the run a minute apart from the start of ``completed_at``'s UTC
        day; the first ``activated`` report. Each run's windows then close on one day, which the
        portfolio releases whole to the org's lead, who sees no learner row by row (ADR 0016).
        """
        requirement = definition.requirements.get()
        users = get_user_model().objects
        names = [f"{run.split(':', 1)[1].replace('+', '-').lower()}-{number}" for number in range(completers)]
        known = set(users.filter(username__in=names).values_list("username", flat=True))
        users.bulk_create([get_user_model()(username=name, password=password) for name in names if name not in known])
        key = CourseKey.from_string(run)
        for number, user in enumerate(users.filter(username__in=names).order_by("pk")):
            opened = completed_at.replace(hour=0, minute=0, second=0) + timedelta(minutes=number)
            windows = api.open_windows(user.pk, key, "passing", opened)
            if number < activated and windows:
                api.record_evidence(window=windows[0], requirement=requirement, source="learner",
                                    payload={"text": "I used it with a customer."},
                                    idempotency_key=f"portfolio-{run}-{number}",
                                    submitted_at=opened + timedelta(days=5))
