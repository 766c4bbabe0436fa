"""
Planning a comparison before it starts: what a holdout (or a run-against-run comparison) can
detect with the expected intake, and a plan registered once, before the results are read.
"""
import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from activation_plugin import stats
from activation_plugin.errors import ActivationRequestError, DefinitionLocked
from activation_plugin.models import ActivationDefinition

PRIMARY_FIGURES = ("holdout_difference", "run_difference", "rate", "km_rate", "course_effect")
# Which design the result comes from, so the page can say what it isolates (docs/decisions/0011):
# the holdout randomises the follow-up prompts (their effect, not the course's); colleagues who never
# took the course are an observational comparison, unless the instructor wait-listed them at random.
DESIGNS = ("follow_up_holdout", "runs", "course_untrained", "course_waitlist", "single_group")
DEFAULT_DESIGNS = {"holdout_difference": "follow_up_holdout", "run_difference": "runs",
                   "course_effect": "course_untrained", "rate": "single_group", "km_rate": "single_group"}
POWER = 0.8
ALPHA = 0.05


def _rate(value, field):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ActivationRequestError(_("Enter a rate between 0 and 100 %."), field=field)
    return float(value)


def plan_comparison(definition, *, expected_intake, baseline_rate, hoped_rate=None):
    """
    What the comparison can show before it runs, at 95 % and 80 % power.

    With a holdout, the groups are the definition's holdout and prompted arms (``holdout_percent``
    of ``expected_intake`` completers whose windows will end); without one, two runs of
    ``expected_intake`` completers each. ``baseline_rate`` is the holdout's (or the first run's)
    expected rate.

    Returns:
        dict: design (``holdout`` or ``runs``), groups (``{"baseline", "other"}`` sizes),
        minimum_detectable_rate (None when even 100 % would not be detected) and
        minimum_detectable_difference, and with ``hoped_rate``: hoped_rate, power_at_intake,
        learners_needed (completers whose windows end: in total with a holdout, split the same way;
        per run without one; None for a rate equal to the baseline).

    Raises:
        ActivationRequestError: an intake that is not a positive whole number, or a rate outside [0, 1].
    """
    if isinstance(expected_intake, bool) or not isinstance(expected_intake, int) or expected_intake < 2:
        raise ActivationRequestError(_("Enter the number of completers you expect, at least 2."),
                                     field="expected_intake")
    baseline = _rate(baseline_rate, "baseline_rate")
    held_out = expected_intake * definition.holdout_percent / 100
    share = (100 - definition.holdout_percent) / 100 if definition.holdout_percent else 0.5
    groups = ({"baseline": held_out, "other": expected_intake - held_out}
              if definition.holdout_percent else {"baseline": expected_intake, "other": expected_intake})
    detectable = stats.minimum_detectable_rate(baseline, groups["baseline"], groups["other"], ALPHA, POWER)
    plan = {
        "design": "holdout" if definition.holdout_percent else "runs", "groups": groups,
        "minimum_detectable_rate": detectable,
        "minimum_detectable_difference": None if detectable is None else detectable - baseline,
    }
    if hoped_rate is not None:
        hoped = _rate(hoped_rate, "hoped_rate")
        needed = stats.learners_needed(baseline, hoped, share, ALPHA, POWER)
        plan.update(hoped_rate=hoped,
                    power_at_intake=stats.power_two_rates(baseline, hoped, groups["baseline"], groups["other"], ALPHA),
                    learners_needed=needed if definition.holdout_percent or needed is None else -(-needed // 2))
    return plan


@transaction.atomic
def register_plan(definition, *, hypothesis, primary_figure, sample_size, end_date, registered_by=None,
                  design=None):
    """
    Register the comparison's plan, once: the hypothesis, the one figure that will answer it, the
    design it comes from, the number of completers whose windows must have ended, and the date the
    result is read. Its point is that it cannot change once results come in, so a second
    registration is refused.

    Args:
        design: one of ``DESIGNS``; by default the one the figure implies (``course_effect``:
            ``course_untrained``, observational). ``course_waitlist`` says the untrained colleagues
            were wait-listed at random, which makes the course effect a randomised comparison.

    Raises:
        ActivationRequestError: an empty hypothesis, an unknown figure or design, a design that does
            not answer with that figure, a sample size below 2, or an end date in the past.
        DefinitionLocked: a plan is already registered.
    """
    definition = ActivationDefinition.objects.select_for_update().get(pk=definition.pk)
    if definition.comparison_plan:
        raise DefinitionLocked(_("A plan is registered once: its point is that it cannot change after the "
                                 "results come in."), field="comparison_plan")
    if not str(hypothesis or "").strip():
        raise ActivationRequestError(_("State the hypothesis the comparison tests."), field="hypothesis")
    if primary_figure not in PRIMARY_FIGURES:
        raise ActivationRequestError(_("Choose the figure that will answer the hypothesis."), field="primary_figure")
    design = design or DEFAULT_DESIGNS[primary_figure]
    course_designs = ("course_untrained", "course_waitlist")
    if design not in DESIGNS or (design in course_designs) != (primary_figure == "course_effect"):
        raise ActivationRequestError(_("Choose the design the figure comes from: the course's effect is read "
                                       "against untrained colleagues, wait-listed or not."), field="design")
    if isinstance(sample_size, bool) or not isinstance(sample_size, int) or sample_size < 2:
        raise ActivationRequestError(_("Enter the number of completers the comparison needs, at least 2."),
                                     field="sample_size")
    if not isinstance(end_date, datetime.date) or end_date < timezone.now().date():
        raise ActivationRequestError(_("Enter the date the result will be read, today or later."), field="end_date")
    definition.comparison_plan = {
        "hypothesis": str(hypothesis).strip()[:2000], "primary_figure": primary_figure, "design": design,
        "sample_size": sample_size,
        "end_date": end_date.isoformat(), "registered_at": timezone.now().isoformat(),
        "registered_by": getattr(registered_by, "pk", None),
    }
    definition.save(update_fields=["comparison_plan", "modified"])
    return definition


def plan_status(definition, eligible, now=None):
    """
    ``None`` without a registered plan; else the plan with ``reached`` (its end date has passed
    and ``eligible`` completers' windows have ended) and ``early`` (the opposite: reading the
    result now is looking before the planned end, which inflates the chance of a false finding).
    """
    plan = definition.comparison_plan
    if not plan:
        return None
    today = (now or timezone.now()).date()
    reached = datetime.date.fromisoformat(plan["end_date"]) <= today and (eligible or 0) >= plan["sample_size"]
    return {**plan, "reached": reached, "early": not reached}
