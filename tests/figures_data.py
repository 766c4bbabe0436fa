"""
Builders of hand-made windows, evidence and observations for the figures tests (read-only code
under test). Written in bulk as an import would be, then counted in the tallies the figures read,
as the api counts what it writes.
"""
import itertools
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction

from activation_plugin import strength_tags
from activation_plugin.api.tallies import retally, retally_learners
from activation_plugin.models import ActivationWindow, Evidence, MetricObservation, MetricSource, PromptDelivery
from tests.conftest import NOW

_numbers = itertools.count()
CLOSED_AT = NOW - timedelta(days=60)  # opened then, a 30-day window has ended by NOW


def make_users(n):
    password = make_password(None)
    names = [f"fig{next(_numbers)}" for _ in range(n)]
    get_user_model().objects.bulk_create([get_user_model()(username=name, password=password) for name in names])
    return list(get_user_model().objects.filter(username__in=names).order_by("pk"))


def make_windows(definition, n, *, state="expired", opened_at=CLOSED_AT, days=None, course_run=None, **fields):
    """``n`` windows in one state; activated ones get ``days`` to activation (default 3)."""
    activated = state == ActivationWindow.State.ACTIVATED
    windows = [ActivationWindow(
        definition=definition, user=user, course_run=course_run or definition.course_key, trigger=definition.trigger,
        opened_at=opened_at, closes_at=opened_at + timedelta(days=definition.window_days), state=state,
        activated_at=opened_at + timedelta(days=days or 3) if activated else None,
        days_to_activation=(days or 3) if activated else None, **fields,
    ) for user in make_users(n)]
    ActivationWindow.objects.bulk_create(windows)
    made = list(ActivationWindow.objects.filter(user__in=[window.user for window in windows], definition=definition)
                .order_by("pk"))
    counted(made)
    return made


def counted(windows):
    """Count these windows again in their definition's tallies."""
    if windows:
        with transaction.atomic():
            retally(windows[0].definition, [window.pk for window in windows])


def add_evidence(windows, *, status="verified", strength="self_report", copies=1):
    requirement = windows[0].definition.requirements.first()
    Evidence.objects.bulk_create([
        Evidence(window=window, requirement=requirement, source="learner", submitted_at=window.opened_at,
                 status=status, strength=strength if status == "verified" else "",
                 idempotency_key=f"ev{next(_numbers)}")
        for window in windows for _ in range(copies)
    ])
    # Written around evaluate_window, as a bulk import would be: the windows' strength tags follow.
    strength_tags.retag(ActivationWindow.objects.filter(pk__in=[window.pk for window in windows]), Evidence)
    counted(windows)


def add_deliveries(windows, status="sent"):
    prompt = windows[0].definition.requirements.first().prompts.first()
    PromptDelivery.objects.bulk_create([
        PromptDelivery(window=window, prompt=prompt, kind="prompt", status=status, claimed_at=window.opened_at)
        for window in windows
    ])
    counted(windows)


def source(name="crm", **fields):
    return MetricSource.objects.get_or_create(name=name, defaults={"kind": "csv", **fields})[0]


def observe(user, metric, at, value, *, source_name="crm", external_id=None):
    MetricObservation.objects.create(source=source(source_name), metric=metric, observed_at=at, value=value,
                                     external_id=external_id or f"ext{next(_numbers)}", user=user)
    if user is not None:
        with transaction.atomic():
            retally_learners([user.pk])
