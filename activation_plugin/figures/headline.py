"""
The headline of a definition: rate, Kaplan–Meier curve, funnel and persistence, added up from the
definition's tallies (``tallies.read``) plus the running windows' censoring times, never per learner.
"""
from collections import Counter
from datetime import datetime, time
from datetime import timezone as dt_timezone
from fractions import Fraction
from itertools import combinations

from django.db.models import CharField, Count, ExpressionWrapper, F, Q
from django.utils import timezone

from activation_plugin import stats
from activation_plugin.figures import release, tallies
from activation_plugin.figures.base import (
    counted_windows,
    min_cell_size,
    rate_row,
    reveals_outcomes,
    seen_or_released,
    suppress_rows,
    unseen,
)
from activation_plugin.figures.release import EVERYONE, held_values
from activation_plugin.figures.tallies import DAY
from activation_plugin.keys import catalog_course, parse_course_key
from activation_plugin.models import ActivationDefinition, ActivationWindow, Evidence, PromptOptOut

SUMMARY_COUNTS = ("completers", "eligible", "activated", "open", "open_activated", "not_activated", "opted_out")
# Counts that tell a learner's outcome: hidden with the rate (``suppress_outcomes``).
OUTCOME_COUNTS = ("eligible", "activated", "not_activated", "open", "open_activated")


def _outcome_counts(cell_rows):
    ended_rows = [row for row in cell_rows if row["ended"]]
    running_rows = [row for row in cell_rows if not row["ended"]]
    return {
        "completers": sum(row["completers"] for row in cell_rows),
        "eligible": sum(row["completers"] for row in ended_rows),
        "activated": sum(row["activated"] for row in ended_rows),
        "open": sum(row["completers"] for row in running_rows),
        "open_activated": sum(row["activated"] for row in running_rows),
    }


def summarize(definition, now=None, tallied=None, visible_runs=(), holding=None):
    """
    The headline figures of a definition, from aggregate queries only.

    One censoring rule per figure, never mixed. ``rate`` is the share of the windows that have
    *ended* (``eligible``: the whole window elapsed) that activated within them; a window still
    running is left out whatever its state, even if it already activated, since counting early
    activators before their classmates' windows end biases the rate upward. ``km_rate`` is the
    Kaplan–Meier estimate of activation by day ``km_day``: it uses every window, each for the
    whole days it has been observed (elapsed time, not calendar dates). ``km_day`` is the window's
    last day once anyone has been followed that long, else the longest follow-up so far: the
    estimate says nothing beyond it. Quote ``km_rate`` while many windows are running, and ``rate``
    once most have ended.

    Privacy: fewer completers than ``ACTIVATION_MIN_CELL_SIZE`` hide every figure (``suppressed``).
    Fewer ended windows than that, or fewer learners than that on either side of the outcome
    (activated, or not), hide the rate and every count that would tell it (``rate_suppressed``):
    0 activated out of 20 tells each learner's outcome as surely as 3 out of 3. Each test is on the
    learners outside ``visible_runs`` (``base.unseen``): the viewer, staff of those runs, sees the
    others' windows one by one and would subtract them. The curve's censoring counts tell the ended
    windows that did not activate, so a hidden rate hides the curve too. A window counts as ended
    once the day it closed on is over, and the rate is held hidden while the windows ended since its
    last release would tell outcomes (``release``; ``tallied`` and ``holding``: ``release.read``'s,
    if read already). The others' running windows move the curve and ``open_activated`` by one
    learner a day, which tomorrow's figures minus today's would tell: the curve leaves them out
    (it is drawn over the viewer's learners and the others' released ended windows, whose unseen
    part is the rate's), and ``open_activated`` is hidden while there are any
    (``running_left_out``).

    Returns:
        dict: completers, eligible, activated (of the eligible), not_activated, open (windows
        still running), open_activated (running windows that already activated, not in the rate),
        opted_out (still counted), by_strength, rate (None when nothing is eligible), rate_ci
        ((low, high) 95 % Wilson, or None), km_rate, km_day, km_ci ((low, high) of km_rate, the band
        on km_day), km_curve (``stats.KMPoint`` per day with an
        event or censoring; ``survival`` is the share *not yet* activated), km_band (one
        ``{"day", "low", "high"}`` per km_curve point, same order: the 95 % band of the
        *cumulative activation* 1 - S, i.e. ``low = 1 - point.high``, ``high = 1 - point.low``),
        median_days, median_ci ((low, high) days, high None when not reached: Brookmeyer–Crowley
        by the band, or None), quote (``rate`` or ``km_rate``, the one to quote, or None), suppressed,
        rate_suppressed, km_suppressed (the curve and the median hidden, with the rate),
        running_left_out (the curve leaves out the running windows of learners outside
        ``visible_runs``, and ``open_activated`` is hidden).
    """
    now = now or timezone.now()
    walked = None
    if tallied is None:  # as ``release.read``, keeping the walk for the curve
        walked = release.walk(definition, now, visible_runs)
        holding = walked.holding
        tallied = release.counted_through(definition, now, tallies.read(definition, now, with_kpi=False),
                                          visible_runs, walked.through, walked.late)
    elif holding is None:
        holding = release.walk(definition, now, visible_runs).holding
    ended_rows = [row for row in tallied.cells if row["ended"]]
    hidden_cells = unseen(tallied, visible_runs).cells
    part = _outcome_counts(hidden_cells)
    counts = {
        **_outcome_counts(tallied.cells),
        # From the opt-out table's side: a handful of rows, not a lookup per window. An opt-out under
        # any version of the course holds for this one too.
        "opted_out": counted_windows(definition).filter(user_id__in=PromptOptOut.objects.filter(
            Q(definition__catalog_course=definition.catalog_course) | Q(definition__isnull=True),
        ).values("user_id")).count(),
    }
    counts["not_activated"] = counts["eligible"] - counts["activated"]
    running_left_out = min_cell_size() > 1 and part["open"] > 0
    curve = stats.kaplan_meier(_events_by_day(
        _curve_without_unseen_running(definition, now, tallied, visible_runs, walked) if running_left_out
        else tallied,
        counts["not_activated"], definition.window_days))
    by_strength = {strength: sum(row[f"strength_{strength}"] for row in ended_rows)
                   for strength in Evidence.Strength.values}
    hidden_strength = {strength: sum(row[f"strength_{strength}"] for row in hidden_cells if row["ended"])
                       for strength in Evidence.Strength.values}
    rate_suppressed = part["eligible"] > 0 and ((EVERYONE, "activated") in holding
                                                or reveals_outcomes(part["eligible"], part["activated"]))
    eligible = counts["eligible"]
    km = stats.km_reading(curve, definition.window_days)
    summary = {
        **counts,
        **{key: value for key, value in rate_row(counts["completers"], counts["activated"], counts["open"]).items()
           if key in ("rate", "rate_ci")},
        "km_rate": km.cumulative if km else None,
        "km_day": km.day if km else None,
        "km_ci": (km.low, km.high) if km else None,
        "km_curve": curve,
        "km_band": [{"day": point.day, "low": 1.0 - point.high, "high": 1.0 - point.low} for point in curve],
        "median_days": stats.km_median(curve),
        "median_ci": stats.km_median_interval(curve),
        # Activated windows (of those that ended) backed by each strength of verified evidence
        # (one window may count under several).
        "by_strength": [
            {"strength": strength, "label": label, "activated": by_strength.get(strength, 0),
             "rate": by_strength.get(strength, 0) / eligible if eligible else None}
            for strength, label in Evidence.Strength.choices
        ],
        # Nothing to hide in an empty definition; an empty rate is None anyway.
        "suppressed": 0 < part["completers"] < min_cell_size(),
        "rate_suppressed": rate_suppressed,
        # The curve's steps are 1/n: a handful of activations, or of learners without one, tell who
        # did what as surely as the rate would. Its unseen learners are the rate's (the others'
        # running windows are left out), so it is hidden with the rate.
        "km_suppressed": rate_suppressed,
        "running_left_out": running_left_out,
    }
    if running_left_out:
        summary["open_activated"] = None
    return _with_quote(_suppressed_summary(summary, hidden_strength, part["eligible"]))


def _with_quote(summary):
    """
    Which figure to quote: the rate once most windows have ended (it then describes most
    completers), the Kaplan–Meier estimate while most are running; None when neither is shown.
    """
    if summary["rate"] is not None and summary["eligible"] >= summary["open"]:
        summary["quote"] = "rate"
    elif summary["km_rate"] is not None:
        summary["quote"] = "km_rate"
    else:
        summary["quote"] = "rate" if summary["rate"] is not None else None
    return summary


def _suppressed_summary(summary, hidden_strength, hidden_eligible):
    """
    Blanks, in place, what a small cell would reveal: everything when the summary is suppressed, else
    the Kaplan-Meier figures or the outcome counts by their own flags, and each strength's count that
    tells outcomes.
    """
    if summary["suppressed"]:
        summary.update(dict.fromkeys(SUMMARY_COUNTS))
    if summary["suppressed"] or summary["km_suppressed"]:
        summary.update(km_rate=None, km_day=None, km_ci=None, km_curve=[], km_band=[], median_days=None,
                       median_ci=None, km_suppressed=True)
    if summary["suppressed"] or summary["rate_suppressed"]:
        # The completers and the opt-outs stay: they tell nobody's outcome. Every count that adds
        # up to the outcome goes, the running windows' too (completers − open = eligible).
        summary.update(dict.fromkeys(OUTCOME_COUNTS), rate=None, rate_ci=None, rate_suppressed=True)
    for row in summary["by_strength"]:
        count = hidden_strength[row["strength"]]
        if summary["rate_suppressed"] or (hidden_eligible and reveals_outcomes(hidden_eligible, count)):
            row.update(activated=None, rate=None)
    return summary


def _curve_without_unseen_running(definition, now, tallied, visible_runs, walked=None):
    """
    ``tallied``'s activation days and waiting windows without the windows outside ``visible_runs``
    that ``release.read`` counts as running: those still running, and those ended since the day
    ``release.walk`` reached (``walked``, walked again if not given), which it censors at the
    window's end. The curve then moves for those learners only with a release, by a group that
    passes the cell test. Narrow queries, no window read whole: the activations of the windows
    closing since that day by run and day (taken away from the tallies' days; the few whose tallies
    have yet to move after a change, as they were counted), and the viewer's own running windows'
    opening times (the waiting windows left: none for a viewer of no run).
    """
    through = (walked or release.walk(definition, now, visible_runs)).through
    windows = ActivationWindow.objects.filter(definition=definition).annotate(
        run=ExpressionWrapper(F("course_run"), output_field=CharField()))
    since = windows if through is None else windows.filter(
        closes_at__gte=datetime.combine(through, time.min, tzinfo=dt_timezone.utc) + DAY)
    seen = {str(run) for run in visible_runs}
    days = Counter()
    for run, day, activated in (since.filter(state=ActivationWindow.State.ACTIVATED, tally_stale=False)
                                .values_list("run", "days_to_activation").annotate(n=Count("pk")).order_by()):
        if run not in seen:
            days[day] += activated
    # A window whose tallies have not moved yet since a change (a verdict's activation, say) is in them
    # as it was: taken away as it was counted, or its change would show as another learner's.
    for run, counted in since.filter(tally_stale=True).values_list("run", "tallied"):
        if run not in seen and counted and counted["day"] is not None:
            days[counted["day"]] += 1
    waiting = Counter((now - opened_at) // DAY for opened_at in ActivationWindow.objects.filter(
        definition=definition, course_run__in=list(visible_runs), closes_at__gt=now,
        state__in=(ActivationWindow.State.OPEN, ActivationWindow.State.EXPIRED)).values_list("opened_at", flat=True)
    ) if seen else Counter()
    return tallied._replace(activation_days=dict(Counter(tallied.activation_days) - days), waiting=dict(waiting))


def _events_by_day(tallied, ended_not_activated, window_days):
    """
    ``{day: (activations, censored)}`` for Kaplan–Meier, in whole days since the window opened:
    an activation on its day, a running window censored after the whole days it has been open
    (a window opened at 23:45 yesterday has been observed for 0 days, not 1; ``tallies.read``
    counts them), an ended window that did not activate at the window's length.
    """
    events_by_day = {}

    def add(day, events=0, censored=0):
        old_events, old_censored = events_by_day.get(day, (0, 0))
        events_by_day[day] = (old_events + events, old_censored + censored)

    for day, activated in tallied.activation_days.items():
        add(day, events=activated)
    for observed, windows in tallied.waiting.items():
        add(min(max(observed, 0), window_days), censored=windows)
    if ended_not_activated:
        add(window_days, censored=ended_not_activated)
    return events_by_day


FUNNEL_STAGES = ("completed", "prompted", "responded", "verified", "activated")


def funnel(definition, now=None, visible_runs=()):
    """
    How far each arm's completers got: completed → prompted (a prompt, reminder or nudge was
    sent) → responded (evidence not rejected) → verified → activated. Each stage counts windows
    that reached it, whatever the order; ``share`` is relative to the arm's completers. The
    holdout arm gets no prompts by design, so its ``prompted`` is 0.

    An arm with fewer than ``ACTIVATION_MIN_CELL_SIZE`` eligible learners is hidden (counts and
    shares None), and with it the other arm, which the headline totals would otherwise reveal; the
    test is on the learners outside ``visible_runs`` (``base.suppress_rows``). Those learners count
    once their windows are counted as ended (``funnel_from_counts``).

    Returns:
        dict: ``{"prompted": [{"stage", "count", "share"}, ...], "holdout": [...]}`` in stage order.
    """
    now = now or timezone.now()
    tallied, holding = release.read(definition, now, visible_runs, with_kpi=False)
    return funnel_from_counts(funnel_counts(definition, now, tallied),
                              funnel_counts(definition, now, unseen(tallied, visible_runs)), holding)


# Each stage's count among the windows that ended (``funnel_counts``).
ENDED_STAGES = {"completed": "ended", "prompted": "prompted_ended", "responded": "responded_ended",
                "verified": "verified_ended", "activated": "activated_ended"}


def funnel_counts(definition, now, tallied=None):
    """
    Unsuppressed ``{arm: {stage: count, "ended": count, "prompted_ended": count, "responded_ended":
    count, "verified_ended": count, "activated_ended": count, "open": count}}`` from the tallies
    (``ended`` and ``*_ended``: among the windows that ended, ``ENDED_STAGES``); also the source of
    the data quality's response rate.
    """
    tallied = tallied or tallies.read(definition, now, with_kpi=False)
    counters = (*FUNNEL_STAGES, *ENDED_STAGES.values(), "open")
    arms = {arm: dict.fromkeys(counters, 0) for arm in ActivationWindow.Arm.values}
    for row in tallied.cells:
        arm = arms.setdefault(row["arm"], dict.fromkeys(counters, 0))
        arm["completed"] += row["completers"]
        for stage in ("prompted", "responded", "verified", "activated"):
            arm[stage] += row[stage]
        if row["ended"]:
            for stage, ended in ENDED_STAGES.items():
                arm[ended] += row["completers" if stage == "completed" else stage]
        else:
            arm["open"] += row["completers"]
    return arms


def _funnel_without_unseen_running(arms, unseen_arms):
    """
    ``arms`` (``funnel_counts``) without the running windows of ``unseen_arms`` (the same over the
    learners the viewer cannot see row by row): their answers and activations so far move by one
    learner a day, which tomorrow's funnel minus today's would tell (as ``base.seen_or_released``).
    """
    if min_cell_size() <= 1:
        return arms
    without = {}
    for arm, row in arms.items():
        part = unseen_arms.get(arm)
        without[arm] = dict(row) if part is None else {
            **row, **{stage: row[stage] - part[stage] + part[ended] for stage, ended in ENDED_STAGES.items()},
            "open": row["open"] - part["open"]}
    return without


# The stages that count answers: a learner's response is an outcome protected as their activation is.
RESPONSE_STAGES = ("responded", "verified")


def _arms_hidden(arms, unseen_arms, holding):
    """
    ``{arm: hidden}``: an arm of the funnel by its activations (``suppress_rows``, complementary),
    or held today (``release.walk``).
    """
    arm_held = held_values(holding, "arm")
    return {arm: row["suppressed"] for arm, row in zip(arms, suppress_rows(
        [rate_row(row["completed"], row["activated_ended"], row["open"]) for row in arms.values()],
        [rate_row(row["completed"], row["activated_ended"], row["open"]) for row in unseen_arms.values()],
        held=[arm in arm_held for arm in arms]))}


def _in_span(rows, target):
    """Whether ``target`` is a linear combination of ``rows`` (vectors of integers; exact arithmetic)."""
    def rank(vectors):
        vectors, found = [[Fraction(value) for value in vector] for vector in vectors], 0
        for column in range(len(target)):
            pivot = next((i for i in range(found, len(vectors)) if vectors[i][column]), None)
            if pivot is None:
                continue
            vectors[found], vectors[pivot] = vectors[pivot], vectors[found]
            for i, vector in enumerate(vectors):
                if i != found and vector[column]:
                    factor = vector[column] / vectors[found][column]
                    vectors[i] = [a - factor * b for a, b in zip(vector, vectors[found])]
            found += 1
        return found
    return rank(rows + [target]) == rank(rows)


def answers_hidden(arms, unseen_arms, holding=frozenset()):
    """
    Whether the counts of answers are hidden, all of them: the funnel's responded and verified, the
    response rate and the non-response panel (a response is an outcome, protected as an activation
    is). They are sums over one table, by arm, of the ended windows of the learners the viewer cannot
    see row by row (``unseen_arms``, ``funnel_counts`` over them; the funnel leaves their running
    windows out, ``funnel_from_counts``): the funnel an arm's, the response rate the prompted arm's,
    the panel both arms'. Any group of that table that follows from the ones released (the panel
    minus the response rate is the holdout's) is released with them, so each such group is tested
    (``reveals_outcomes`` with answers as the outcome), and one that tells hides them all: hiding one
    alone leaves it the others' difference, as a funnel's responded 6 of 10 gave a hidden response
    rate of 6 of 10 back. A figure hidden for
    its activations (an arm of the funnel, the response rate with the prompted arm, the panel with
    the rate) releases nothing. Answers held today for everyone or an arm (``holding``,
    ``release.walk``) hide them all too.
    """
    if any(outcome == "responded" and (group == EVERYONE or group[0] == "arm") for group, outcome in holding):
        return True
    atoms = [(arm, (row["ended"], row["responded_ended"])) for arm, row in unseen_arms.items()]
    hidden_arms = _arms_hidden(arms, unseen_arms, holding)
    ended_total = sum(row["ended"] for row in unseen_arms.values())
    # The funnel's arms (the response rate is the prompted arm's ended windows, the same figure).
    released = [{arm} for arm in arms if not hidden_arms[arm]]
    if (EVERYONE, "activated") not in holding and not (ended_total and reveals_outcomes(
            ended_total, sum(row["activated_ended"] for row in unseen_arms.values()))):
        released.append(set(unseen_arms))
    rows = [[int(key in figure) for key, _counts in atoms] for figure in released]
    for size in range(1, len(atoms) + 1):
        for chosen in combinations(range(len(atoms)), size):
            total = sum(atoms[index][1][0] for index in chosen)
            answered = sum(atoms[index][1][1] for index in chosen)
            if (total and reveals_outcomes(total, answered)
                    and _in_span(rows, [int(index in chosen) for index in range(len(atoms))])):
                return True
    return False


def funnel_from_counts(arms, unseen_arms=None, holding=frozenset()):
    """
    The funnel from ``funnel_counts``, tested on ``unseen_arms`` (the same over the unseen learners,
    by default all of them): an arm by its activations (``suppress_rows``), the answers of both arms
    by ``answers_hidden``; ``holding``: ``release.walk``. The unseen learners' running windows are
    left out (``_funnel_without_unseen_running``): each stage counts the viewer's learners and the others'
    windows counted as ended.
    """
    unseen_arms = unseen_arms or arms
    hidden = _arms_hidden(arms, unseen_arms, holding)
    hide_answers = answers_hidden(arms, unseen_arms, holding)
    arms = _funnel_without_unseen_running(arms, unseen_arms)

    def shown(arm, stage):
        return not (hidden[arm] or (hide_answers and stage in RESPONSE_STAGES))

    return {
        arm: [{"stage": stage,
               "count": row[stage] if shown(arm, stage) else None,
               "share": row[stage] / row["completed"] if shown(arm, stage) and row["completed"] else None}
              for stage in FUNNEL_STAGES]
        for arm, row in arms.items()
    }


def persistence(definition, tallied=None, visible_runs=()):
    """
    Do activated learners keep applying it? The share of activated windows with two or more
    verified pieces of evidence, and verified evidence per activated window. Hidden (None) below
    ``ACTIVATION_MIN_CELL_SIZE`` activated learners outside ``visible_runs`` (``base.unseen``), or none.
    Those learners count once their windows are counted as ended (``base.seen_or_released``, over
    ``release.read``'s tallies, ``tallied`` if read already): their running windows' activations
    would move it by one learner a day.

    Returns:
        dict: activated, repeat, repeat_share, evidence_per_activated, suppressed.
    """
    tallied = seen_or_released(tallied or release.read(definition, timezone.now(), visible_runs, with_kpi=False)[0],
                               visible_runs)
    activated, repeat, evidence = (sum(row[counter] for row in tallied.cells)
                                   for counter in ("activated", "repeat", "verified_evidence"))
    unseen_activated = sum(row["activated"] for row in unseen(tallied, visible_runs).cells)
    if not activated or 0 < unseen_activated < min_cell_size():
        return {"activated": None, "repeat": None, "repeat_share": None, "evidence_per_activated": None,
                "suppressed": True}
    return {
        "activated": activated,
        "repeat": repeat,
        "repeat_share": repeat / activated if activated else None,
        "evidence_per_activated": evidence / activated if activated else None,
        "suppressed": False,
    }


def course_summaries(course_key, now=None, visible_runs=()):
    """``[(definition, summary)]`` for every non-draft definition covering this course run."""
    key = parse_course_key(course_key)
    definitions = (ActivationDefinition.objects.filter(catalog_course=catalog_course(key))
                   .exclude(status=ActivationDefinition.Status.DRAFT).order_by("-created"))
    return [(definition, summarize(definition, now=now, visible_runs=visible_runs)) for definition in definitions]
