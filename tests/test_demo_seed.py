"""The demo's seed fires real completion events and is safe to run twice."""
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from activation_plugin.models import ActivationWindow, Evidence, MetricObservation, Review
from demo.management.commands.seed_demo import DEMO_LEARNER, RUNS


def snapshot():
    return {
        "users": get_user_model().objects.count(),
        "windows": ActivationWindow.objects.count(),
        "states": sorted(ActivationWindow.objects.values_list("pk", "state", "activated_at")),
        "evidence": Evidence.objects.count(),
        "reviews": Review.objects.count(),
        "observations": sorted(MetricObservation.objects.values_list("external_id", "observed_at", "value", "user_id")),
    }


def run_rate(run):
    closed = ActivationWindow.objects.filter(course_run=run).exclude(state="open")
    return closed.filter(state="activated").count() / closed.count()


@pytest.mark.slow
def test_seed_builds_two_runs_with_an_improving_rate_and_replays_change_nothing(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo", stdout=open("/dev/null", "w", encoding="utf-8"))  # noqa: SIM115
    first = snapshot()
    assert MetricObservation.objects.filter(user__isnull=False).exists()  # the data-quality page has figures
    assert MetricObservation.objects.filter(user__isnull=True).count() == 5  # and unmatched ids to show
    assert first["users"] >= 202
    assert 150 <= first["windows"] <= 240
    assert ActivationWindow.objects.filter(state="open").exists()
    assert ActivationWindow.objects.filter(arm="holdout").exists()
    assert ActivationWindow.objects.get(user__username=DEMO_LEARNER).arm == "prompted"  # the README's learner
    assert run_rate(RUNS[0][0]) < run_rate(RUNS[1][0])
    call_command("seed_demo", stdout=open("/dev/null", "w", encoding="utf-8"))  # noqa: SIM115
    assert snapshot() == first
