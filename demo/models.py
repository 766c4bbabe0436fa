"""Stand-ins for the LMS's course overviews and enrollments, just enough for the plugin's questions."""
from django.conf import settings
from django.db import models
from opaque_keys.edx.django.models import CourseKeyField


class DemoCourse(models.Model):
    """.. no_pii: Course catalogue of the demo host."""

    course_key = CourseKeyField(max_length=255, unique=True)
    display_name = models.CharField(max_length=255)

    def __str__(self):
        return self.display_name


class DemoEnrollment(models.Model):
    """
    .. pii: Demo learners' enrollment.
    .. pii_types: id
    .. pii_retirement: retained
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    course_key = CourseKeyField(max_length=255)
    mode = models.CharField(max_length=32, default="audit")
    cohort = models.CharField(max_length=100, blank=True)

    class Meta:
        unique_together = [("user", "course_key")]


class DemoSentMail(models.Model):
    """
    Mail the demo host "sent", kept so the demo can show it at /outbox/.

    .. pii: Demo learners' email addresses and the messages sent to them.
    .. pii_types: email_address, other
    .. pii_retirement: retained
    """

    to = models.TextField()
    subject = models.CharField(max_length=998)
    body = models.TextField()
    html = models.TextField(blank=True, help_text="The HTML part, as mail clients that show HTML render it.")
    sent_at = models.DateTimeField(auto_now_add=True)


class DemoLanguagePreference(models.Model):
    """
    The stand-in for the LMS's ``pref-lang`` user preference.

    .. pii: A demo learner's preferred language.
    .. pii_types: other
    .. pii_retirement: retained
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    language = models.CharField(max_length=16)


class DemoCompletionRecord(models.Model):
    """
    The demo's stand-in for the LMS's persistent grades and certificates: what a learner earned
    and when, written before the completion event is sent, as the LMS does.

    .. pii: Which demo learner passed or was certified in which course, and when.
    .. pii_types: id
    .. pii_retirement: retained
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    course_key = CourseKeyField(max_length=255)
    trigger = models.CharField(max_length=16)  # "passing" or "certificate", as the plugin's triggers
    completed_at = models.DateTimeField()

    class Meta:
        unique_together = [("user", "course_key", "trigger")]
