"""Can the figures be trusted? Response rate, review backlog, KPI identity and timestamp problems, failing sources."""
import operator
from datetime import timedelta
from functools import reduce

from django.conf import settings
from django.db.models import Count, DateTimeField, ExpressionWrapper, F, Q, Value
from django.db.models.functions import Lower, StrIndex, Substr
from django.utils import timezone

from activation_plugin.figures import headline, release
from activation_plugin.figures.base import counted_windows, reveals_outcomes, unseen
from activation_plugin.figures.release import held_values
from activation_plugin.figures.tallies import metric_baselines
from activation_plugin.mailboxes import invited_pairs, is_mutual, mailbox
from activation_plugin.models import (
    ActivationWindow,
    MetricObservation,
    MetricSource,
    PromptDelivery,
    SupervisorInvite,
)

# ``MetricSource.last_status`` is free text written by the connectors; these values mean the last run failed,
# or (``partial``) stopped before the end of what the API had.
FAILING_STATUSES = ("error", "failed", "failing", "partial")

# Mail providers where anyone opens a mailbox in a minute: nothing ties a "supervisor" there to a workplace.
FREE_MAIL_DOMAINS = ("gmail.com", "googlemail.com", "yahoo.com", "outlook.com", "hotmail.com", "live.com",
                     "icloud.com", "aol.com", "proton.me", "protonmail.com", "gmx.com", "gmx.net", "mail.com",
                     "yandex.ru", "mail.ru", "qq.com", "163.com")
# A supervisor who answers this soon after the invitation was sent may be the learner at the keyboard.
QUICK_CONFIRMATION = timedelta(minutes=10)
# One address confirming this many learners of a definition is a team lead, or one person confirming for a group.
BUSY_SUPERVISOR_LEARNERS = 5


def _local_part(field):
    return Lower(Substr(field, 1, StrIndex(field, Value("@")) - 1))


def supervisor_patterns(definition):
    """
    Supervisor confirmations worth a second look, counted (a pattern is a reason to check, not
    proof): ``quick`` answered within ``QUICK_CONFIRMATION`` of the invitation, ``free_mail`` from
    a ``FREE_MAIL_DOMAINS`` address, ``same_name`` from an address whose name before the ``@`` is
    the learner's own (ann@acme.com confirmed by ann@gmail.com), ``busy_supervisors`` addresses
    that confirmed ``BUSY_SUPERVISOR_LEARNERS`` learners or more, and ``mutual`` confirmations by a
    learner of the course whom the confirmed learner asked to confirm them in turn, address variants
    aside (``mailboxes``). Two aggregate queries, and two for the pairs when anyone confirmed.
    """
    answered = (SupervisorInvite.objects.filter(window__in=counted_windows(definition), used_at__isnull=False)
                .exclude(email=""))  # retired learners' supervisors are erased
    soon = ExpressionWrapper(F("created") + QUICK_CONFIRMATION, output_field=DateTimeField())
    counts = answered.annotate(name=_local_part("email"), learner_name=_local_part("window__user__email")).aggregate(
        confirmations=Count("pk"),
        quick=Count("pk", filter=Q(used_at__lte=soon)),
        free_mail=Count("pk", filter=reduce(operator.or_, (Q(email__iendswith=f"@{domain}")
                                                           for domain in FREE_MAIL_DOMAINS))),
        same_name=Count("pk", filter=Q(name=F("learner_name"))),
    )
    counts["busy_supervisors"] = (answered.values(address=Lower("email"))
                                  .annotate(learners=Count("window__user", distinct=True))
                                  .filter(learners__gte=BUSY_SUPERVISOR_LEARNERS).count())
    rows = list(answered.values_list("email", "window__user__email")) if counts["confirmations"] else []
    pairs = invited_pairs([definition.catalog_course], {mailbox(learner_email) for _email, learner_email in rows})
    counts["mutual"] = sum(is_mutual(definition.catalog_course, learner_email, email, pairs)
                           for email, learner_email in rows)
    return counts


# What the platform knows of every completer, copied onto the window when it opened.
NON_RESPONSE_DIMENSIONS = ("enrollment_mode", "cohort", "course_run")


def _share(part, whole, hidden):
    return None if hidden or not whole else part / whole


def _ended_rows(tallied):
    return [{**row, "n": row["completers"], "responders": row["responded"]} for row in tallied.cells if row["ended"]]


def _tells(rows, outcome):
    """Whether ``rows``' learners, if any, are too few on either side of ``outcome`` (``reveals_outcomes``)."""
    total = sum(row["n"] for row in rows)
    return total > 0 and reveals_outcomes(total, sum(row[outcome] for row in rows))


def non_response(definition, now, tallied=None, visible_runs=(), holding=None):
    """
    Who answers? Among the completers the activation rate counts (both arms, windows ended),
    responders (any evidence not rejected) against non-responders, on what the platform knows of
    both (enrollment mode, cohort, course run), and the bounds of that rate: nobody who never
    answered activated, so the rate assumes they did not (``rate_if_none``, the headline rate
    itself); ``rate_if_all`` is the rate had every one of them applied it. The holdout is in,
    although it is never prompted, because the bounds are those of the rate the headline shows. A
    value whose responders or non-responders are fewer than the minimum cell size shows no shares;
    the bounds are hidden with the rate (``reveals_outcomes``), and the panel with the other counts
    of answers (``headline.answers_hidden``: its responders minus the response rate's are the
    holdout's). Each test is on the learners outside ``visible_runs`` (``base.unseen``), and a
    dimension with a hidden value hides every value: the shares and the totals would give a lone
    hidden one back. From the tallies as ``release.read`` counts them (``tallied`` and ``holding``,
    if read already): the bounds are held with the rate, and a dimension with a value whose answers
    are held (what changed since their last release would tell who answered).

    Returns:
        dict: eligible, responders, non_responders, rate_if_none, rate_if_all, suppressed,
        dimensions (``{dimension: [{"value", "responders_share", "non_responders_share",
        "suppressed"}]}``, shares of each group, largest first).
    """
    if tallied is None:
        tallied, holding = release.read(definition, now, visible_runs, with_kpi=False)
    elif holding is None:
        holding = release.walk(definition, now, visible_runs).holding
    hidden_part = unseen(tallied, visible_runs)
    rows, unseen_rows = _ended_rows(tallied), _ended_rows(hidden_part)
    eligible = sum(row["n"] for row in rows)
    responders = sum(row["responders"] for row in rows)
    activated = sum(row["activated"] for row in rows)
    hidden = (eligible == 0 or _tells(unseen_rows, "activated")
              or headline.answers_hidden(headline.funnel_counts(definition, now, tallied),
                                         headline.funnel_counts(definition, now, hidden_part), holding))
    dimensions = {}
    for dimension in NON_RESPONSE_DIMENSIONS:
        groups = {}
        for row in rows:
            group = groups.setdefault(str(row[dimension]), [0, 0])
            group[0] += row["responders"]
            group[1] += row["n"] - row["responders"]
        dimension_hidden = hidden or bool(held_values(holding, dimension, "responded") & set(groups)) or any(
            _tells([row for row in unseen_rows if str(row[dimension]) == value], "responders") for value in groups)
        dimensions[dimension] = [
            {"value": value, "suppressed": dimension_hidden,
             "responders_share": _share(yes, responders, dimension_hidden),
             "non_responders_share": _share(no, eligible - responders, dimension_hidden)}
            for value, (yes, no) in sorted(groups.items(), key=lambda item: -sum(item[1]))]
    return {
        "eligible": None if hidden else eligible, "responders": None if hidden else responders,
        "non_responders": None if hidden else eligible - responders,
        "rate_if_none": None if hidden else activated / eligible,
        "rate_if_all": None if hidden else (activated + eligible - responders) / eligible,
        "suppressed": hidden, "dimensions": dimensions,
    }


def prompts_in_doubt(definition, now):
    """
    Prompts a tick stopped while sending, longer ago than its lease: they may or may not have
    reached the learner, and the funnel counts those learners as not prompted until an operator
    resends or gives them up (``activation_prompt_claims``).
    """
    return PromptDelivery.objects.filter(
        window__definition=definition, status=PromptDelivery.Status.SENDING,
        claimed_at__lt=now - timedelta(minutes=settings.ACTIVATION_TICK_CLAIM_LEASE_MINUTES)).count()


def data_quality(definition, now=None, funnel_counts=None, tallied=None, visible_runs=(), holding=None):
    """
    The figures that tell whether the others can be trusted.

    ``response_rate`` is the share of prompted-arm completers whose window has ended with any
    evidence that was not rejected: like the rate, it leaves out windows still running, which have
    not yet had their time to answer. It is a figure of the prompted arm, hidden with that arm in
    the funnel, and hidden with the other counts of answers when any of them, or what follows from
    them, tells who answered (``headline.answers_hidden``, over the learners outside
    ``visible_runs``): nobody who did not answer activated, so 0 answers of 20 tells 0 activated of 20.
    Observation checks cover the metrics the definition's KPI requirements use: ``unmatched_identities`` counts distinct
    external ids with no learner linked (whatever the course: they could be anyone's),
    ``future_observations`` timestamps after now, ``observations_outside_windows`` observations
    of this definition's learners that fall in neither their baseline period nor their window.
    ``failing_sources`` lists every KPI source whose last run failed (``last_status`` in
    ``FAILING_STATUSES``), whatever metric it feeds: a source that never delivered could not be
    tied to a metric.

    Args:
        funnel_counts: :func:`~activation_plugin.figures.headline.funnel_counts` when the caller
            has them already (``analytics``), which saves the query that counts responses.
        tallied, holding: ``release.read``'s, when the caller has read them.

    Returns:
        dict: prompted (prompted-arm windows that ended), responded (of those), response_rate,
        awaiting_review, prompts_in_doubt
        (:func:`prompts_in_doubt`), metrics, unmatched_identities,
        future_observations, observations_outside_windows, supervisor_patterns
        (:func:`supervisor_patterns`), non_response (:func:`non_response`), failing_sources
        (``[{"name", "last_status", "last_error", "last_run_at"}]``).
    """
    now = now or timezone.now()
    baselines = metric_baselines(definition)
    if tallied is None:
        tallied, holding = release.read(definition, now, visible_runs)
    elif holding is None:
        holding = release.walk(definition, now, visible_runs).holding
    counts = funnel_counts or headline.funnel_counts(definition, now, tallied)
    unseen_counts = headline.funnel_counts(definition, now, unseen(tallied, visible_runs))
    prompted_arm = counts[ActivationWindow.Arm.PROMPTED]
    response = {"prompted": prompted_arm["ended"], "responded": prompted_arm["responded_ended"]}
    hidden = (headline.funnel_from_counts(counts, unseen_counts, holding)[ActivationWindow.Arm.PROMPTED][0]["count"]
              is None or headline.answers_hidden(counts, unseen_counts, holding))
    observation_counts = {"unmatched_identities": 0, "future_observations": 0, "observations_outside_windows": 0}
    if baselines:
        observations = MetricObservation.objects.filter(metric__in=list(baselines))
        # Two counts on their own indexes (unlinked ids; times after now), not one scan of every observation.
        observation_counts = {
            "unmatched_identities": observations.filter(user__isnull=True).values("external_id").distinct().count(),
            "future_observations": observations.filter(observed_at__gt=now).count(),
            "observations_outside_windows": sum(row["observations"] - row["observations_used"] for row in tallied.kpi),
        }
    return {
        "prompted": None if hidden else response["prompted"],
        "responded": None if hidden else response["responded"],
        "response_rate": None if hidden or not response["prompted"] else response["responded"] / response["prompted"],
        "awaiting_review": sum(row["awaiting_review"] for row in tallied.cells),
        "prompts_in_doubt": prompts_in_doubt(definition, now),
        "metrics": list(baselines),
        **observation_counts,
        "supervisor_patterns": supervisor_patterns(definition),
        "non_response": non_response(definition, now, tallied, visible_runs, holding),
        "failing_sources": list(MetricSource.objects.filter(last_status__in=FAILING_STATUSES).order_by("name")
                                .values("name", "last_status", "last_error", "last_run_at")),
    }
