"""The portfolio's demo (issue 33): the plot tells seed_portfolio's story, and replays change nothing."""
import io
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management import call_command

from activation_plugin import api
from activation_plugin.api.portfolio import course_standing
from activation_plugin.models import ActivationDefinition, ActivationWindow, Evidence

ROOT = Path(__file__).resolve().parent.parent


def test_the_org_lead_sees_a_better_a_worse_and_a_lucky_course(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_portfolio", stdout=io.StringIO())
    counts = (ActivationWindow.objects.count(), Evidence.objects.count())
    lead = get_user_model().objects.get(username="orglead")
    rows = {row["catalog_course"]: row for row in api.portfolio(lead)["rows"]}
    safety, data, pitch = rows["ActivationX+SAFETY110"], rows["ActivationX+DATA150"], rows["ActivationX+PITCH105"]
    assert (safety["position"], data["position"]) == ("high", "low")
    assert pitch["rate"] > safety["rate"] and safety["rank"] == 1 and pitch["rank"] > 1
    assert rows["ActivationX+EMAIL101"]["suppressed"] and rows["ActivationX+TIME102"]["suppressed"]
    assert rows["ActivationX+COACH201"]["change"]["difference"] > 0
    # Safety's instructors read on its page that it ranks first in the org.
    standing = course_standing(ActivationDefinition.objects.get(pk=safety["definition_id"]), own_rate_hidden=False)
    assert (standing["rank"], standing["org"]) == (1, "ActivationX") and standing["of"] >= 5
    call_command("seed_portfolio", stdout=io.StringIO())
    assert (ActivationWindow.objects.count(), Evidence.objects.count()) == counts


def test_the_readme_names_the_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "/activation/portfolio/" in readme and "seed_portfolio" in readme
