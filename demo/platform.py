"""The demo host's platform backend: the standalone rules plus the demo's courses and enrollments."""
from activation_plugin.platform import Completion, StandaloneBackend, in_runs_of
from demo.models import DemoCompletionRecord, DemoCourse, DemoEnrollment, DemoLanguagePreference


class DemoBackend(StandaloneBackend):
    """How an integrator adapts the plugin to a host: override only what the host knows better."""

    def course_exists(self, course_key):
        return DemoCourse.objects.filter(course_key=course_key).exists()

    def course_title(self, course_key):
        course = DemoCourse.objects.filter(course_key=course_key).first()
        return course.display_name if course else str(course_key)

    def segment_for(self, user, course_key):
        return self.segments_for([(user, course_key)])[(user.pk, course_key)]

    def segments_for(self, pairs):
        users, runs = {user.pk for user, _run in pairs}, {run for _user, run in pairs}
        rows = DemoEnrollment.objects.filter(user_id__in=users, course_key__in=runs).values_list(
            "user_id", "course_key", "mode", "cohort")
        enrollments = {(user_id, run): {"enrollment_mode": mode, "cohort": cohort}
                       for user_id, run, mode, cohort in rows}
        return {(user.pk, run): {"enrollment_mode": "", "cohort": "", **enrollments.get((user.pk, run), {}),
                                 "org": run.org}
                for user, run in pairs}

    def enrolled_among(self, catalog_course, user_ids):
        return set(in_runs_of(DemoEnrollment.objects.filter(user_id__in=user_ids), catalog_course, "course_key")
                   .values_list("user_id", flat=True))

    def completions(self, catalog_course, trigger, *, since, after=0, limit=1000):
        records = DemoCompletionRecord.objects.filter(trigger=trigger, completed_at__gte=since, pk__gt=after)
        rows = in_runs_of(records, catalog_course, "course_key").order_by("pk").values_list(
            "pk", "user_id", "course_key", "completed_at")[:limit]
        return [Completion(*row) for row in rows]

    def language_for(self, user):
        preference = DemoLanguagePreference.objects.filter(user=user).first()
        return preference.language if preference else super().language_for(user)

    def languages_for(self, users):
        chosen = dict(DemoLanguagePreference.objects.filter(user__in=users).values_list("user_id", "language"))
        return {user.pk: chosen.get(user.pk) or super().language_for(user) for user in users}
