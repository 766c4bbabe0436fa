"""
``ActivationWindow.verified_strengths``: the strengths of a window's verified evidence as one
comma-fenced string (``",peer,staff,"``), so the headline counts activations by strength in its
single pass over the windows. Pure Django: the migration that introduced the field uses it too.
"""
from django.db.models import Case, CharField, Exists, F, OuterRef, Value, When
from django.db.models.functions import Concat

# Evidence.Strength's values, sorted (tests/test_figures_headline.py checks they stay the same).
STRENGTHS = ("kpi", "peer", "self_report", "staff", "supervisor")


def tag(strengths):
    """``{"staff", "peer"}`` -> ``",peer,staff,"``; comma-fenced so ``",peer,"`` matches exactly."""
    return f",{','.join(sorted(strengths))}," if strengths else ""


def retag(windows, evidence_model):
    """Rewrite the tag of these windows from their verified evidence: one UPDATE per strength."""
    windows.update(verified_strengths="")
    for strength in STRENGTHS:
        windows.filter(Exists(evidence_model.objects.filter(
            window=OuterRef("pk"), status="verified", strength=strength,
        ))).update(verified_strengths=Concat(
            Case(When(verified_strengths="", then=Value(",")), default=F("verified_strengths")),
            Value(f"{strength},"), output_field=CharField()))
