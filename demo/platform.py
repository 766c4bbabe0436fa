"""The demo host's platform backend: the standalone rules plus the demo's courses and enrollments."""
from activation_plugin.platform import StandaloneBackend
from demo.models import DemoCourse, DemoEnrollment, DemoLanguagePreference


class DemoBackend(StandaloneBackend):
    """How an integrator adapts the plugin to a host: override only what the host knows better."""

    def course_exists(self, course_key):
        return DemoCourse.objects.filter(course_key=course_key).exists()

    def course_title(self, course_key):
        course = DemoCourse.objects.filter(course_key=course_key).first()
        return course.display_name if course else str(course_key)

    def segment_for(self, user, course_key):
        enrollment = DemoEnrollment.objects.filter(user=user, course_key=course_key).first()
        return {
            "enrollment_mode": enrollment.mode if enrollment else "",
            "org": course_key.org,
            "cohort": enrollment.cohort if enrollment else "",
        }

    def language_for(self, user):
        preference = DemoLanguagePreference.objects.filter(user=user).first()
        return preference.language if preference else super().language_for(user)

    def languages_for(self, users):
        chosen = dict(DemoLanguagePreference.objects.filter(user__in=users).values_list("user_id", "language"))
        return {user.pk: chosen.get(user.pk) or super().language_for(user) for user in users}
