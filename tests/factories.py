"""factory_boy factories for the tests and the benchmarks; not shipped (factory_boy is a test requirement)."""
import secrets
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from opaque_keys.edx.keys import CourseKey

from activation_plugin import models
from activation_plugin.api.tallies import retally

COURSE_KEY = "course-v1:TestX+APPLY+2026"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("password")


class DefinitionFactory(factory.django.DjangoModelFactory):
    """An active definition without requirements: each test adds the ones it is about."""

    class Meta:
        model = models.ActivationDefinition

    course_key = factory.LazyFunction(lambda: CourseKey.from_string(COURSE_KEY))
    catalog_course = factory.LazyAttribute(lambda d: f"{d.course_key.org}+{d.course_key.course}")
    name = factory.Sequence(lambda n: f"Definition {n}")
    behavior = "Applies the skill on the job."
    trigger = models.ActivationDefinition.Trigger.PASSING
    window_days = 30
    rule = models.ActivationDefinition.Rule.ANY
    holdout_seed = factory.LazyFunction(lambda: secrets.token_hex(16))
    status = models.ActivationDefinition.Status.ACTIVE


class RequirementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.EvidenceRequirement

    definition = factory.SubFactory(DefinitionFactory)
    kind = models.EvidenceRequirement.Kind.PROJECT
    title = factory.Sequence(lambda n: f"Requirement {n}")
    config = factory.LazyFunction(lambda: {"instructions": "Do it.", "rubric": []})
    verification = models.EvidenceRequirement.Verification.NONE


class WindowFactory(factory.django.DjangoModelFactory):
    """
    A window opened now for its definition's window days; its next action is its close, so nothing is
    due unless a test says so.
    """

    class Meta:
        model = models.ActivationWindow

    definition = factory.SubFactory(DefinitionFactory)
    user = factory.SubFactory(UserFactory)
    course_run = factory.LazyAttribute(lambda w: w.definition.course_key)
    trigger = factory.LazyAttribute(lambda w: w.definition.trigger)
    opened_at = factory.LazyFunction(timezone.now)
    closes_at = factory.LazyAttribute(lambda w: w.opened_at + timedelta(days=w.definition.window_days))
    next_action_at = factory.LazyAttribute(lambda w: w.closes_at)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        """Counted in its definition's tallies, as a window the api opens is: the figures see it."""
        with transaction.atomic():
            window = super()._create(model_class, *args, **kwargs)
            retally(window.definition, [window.pk])
        window.refresh_from_db(fields=["tallied"])
        return window
