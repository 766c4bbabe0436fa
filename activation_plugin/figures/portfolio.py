"""
The portfolio: every active definition a viewer may see, side by side, from each definition's
tallies (``tallies.read``), never window by window.

A league table of raw rates ranks small courses by luck, so each course also gets its funnel-plot
position (is it further from the portfolio's rate than its size explains?) and its rate shrunken
towards the portfolio's (``portfolio_stats``), which the ranking uses. See
docs/concepts/portfolio.rst.
"""
from collections import namedtuple
from datetime import datetime, time
from datetime import timezone as dt_timezone
from math import exp, log

from django.conf import settings
from django.utils import timezone

from activation_plugin import portfolio_stats
from activation_plugin.figures import portfolio_cache, release, tallies
from activation_plugin.figures.base import (
    RATE_KEYS,
    cells,
    compared,
    min_cell_size,
    rate_row,
    reveals_outcomes,
    suppress_rows,
)
from activation_plugin.figures.comparisons import segments_from_cells
from activation_plugin.figures.kpi import kpi_figures
from activation_plugin.figures.release import EVERYONE, held_values
from activation_plugin.models import ActivationDefinition, ActivationWindow, Evidence

# ``since``/``until``: dates; a run counts when its first window opened in [since, until).
Filters = namedtuple("Filters", "org course since until strength", defaults=(None,) * 5)
SORTS = ("rank", "rate", "eligible", "change", "course")
# The learners' segments pooled across the portfolio's courses (a cohort is one course's).
PORTFOLIO_SEGMENTS = ("enrollment_mode", "org")
POSITIONS = ("high", "above", "inside", "below", "low")
# Points along the funnel's limits, evenly spaced in log(n) from 1 learner to the largest course.
LIMIT_POINTS = 40
# What a hidden course row blanks besides the rate (``suppress_rows`` blanks that).
HIDDEN_WITH_THE_RATE = ("shrunken", "shrunken_ci", "rank", "position", "change", "response_rate", "strength_mix",
                        "runs", "prompted", "responded", "kpi")


def sees_no_run(course_runs):  # pylint: disable=unused-argument
    """The default viewer of ``portfolio``: no run's learners row by row, so every figure is released as to anyone."""
    return frozenset()


def org_of(definition):
    return definition.catalog_course.split("+", 1)[0]


def _midnight(day):
    return None if day is None else datetime.combine(day, time.min, tzinfo=dt_timezone.utc)


def _counted_cells(cell_rows, filters):
    """
    A definition's cells (``tallies.read_many``) in the period (runs whose first window opened in
    ``[since, until)``), with ``activated`` replaced by the activations backed by verified evidence
    of ``filters.strength`` when one is asked for; and each run's first opening.
    """
    since, until = _midnight(filters.since), _midnight(filters.until)
    first = {}
    for row in cell_rows:
        first[row["course_run"]] = min(first.get(row["course_run"], row["first_opened"]), row["first_opened"])
    kept = {run for run, opened in first.items()
            if (since is None or opened >= since) and (until is None or opened < until)}
    counted = [dict(row, activated=row[f"strength_{filters.strength}"] if filters.strength else row["activated"])
               for row in cell_rows if row["course_run"] in kept]
    return counted, first


def _runs(cell_rows, first_opened, holding=frozenset()):
    """
    Each run's rate, in the order the runs started; a run's small groups hidden as on the course
    page, and so is a run held today (``release.walk``).
    """
    by_run = {}
    for row in cell_rows:
        group = by_run.setdefault(row["course_run"], {"completers": 0, "activated": 0, "open": 0})
        group["completers"] += row["completers"]
        if row["ended"]:
            group["activated"] += row["activated"]
        else:
            group["open"] += row["completers"]
    ordered = sorted(by_run.items(), key=lambda item: first_opened[item[0]])
    held = held_values(holding, "course_run")
    return suppress_rows([{"course_run": run, **rate_row(counts["completers"], counts["activated"], counts["open"])}
                          for run, counts in ordered], held=[str(run) in held for run, _counts in ordered])


def _period_tells_a_run(cell_rows, counted, first_opened):
    """
    Whether a period leaves some of the course's learners out while one of its runs is hidden (too
    small to show): periods can be chosen run by run, so a course's row for two periods, or for a
    period and for every run, would differ by that run and give its outcomes back.
    """
    return sum(row["completers"] for row in counted) < sum(row["completers"] for row in cell_rows) and any(
        run["suppressed"] for run in _runs(cell_rows, first_opened))


def _course_row(definition, cell_rows, first_opened, holding=frozenset()):
    """
    One course's figures before suppression: the rate over every run, the runs, responses and
    strengths; the answers hidden while held today for everyone or an arm (``release.walk``).
    """
    ended = [row for row in cell_rows if row["ended"]]
    prompted = [row for row in ended if row["arm"] == ActivationWindow.Arm.PROMPTED]
    runs = _runs(cell_rows, first_opened, holding)
    change = compared(runs[-2], [runs[-1]])[0] if len(runs) >= 2 else None
    row = {
        "definition_id": definition.pk, "name": definition.name, "course_key": str(definition.course_key),
        "catalog_course": definition.catalog_course, "org": org_of(definition),
        **rate_row(sum(row["completers"] for row in cell_rows), sum(row["activated"] for row in ended),
                   sum(row["completers"] for row in cell_rows if not row["ended"])),
        "runs": runs, "change": change,
        "prompted": sum(row["completers"] for row in prompted),
        "responded": sum(row["responded"] for row in prompted),
    }
    activated = row["activated"]
    row["strength_mix"] = {strength: sum(cell[f"strength_{strength}"] for cell in ended) / activated
                           if activated else None for strength in Evidence.Strength.values}
    small = 0 < row["prompted"] < min_cell_size()
    held = any(outcome == "responded" and (group == EVERYONE or group[0] == "arm") for group, outcome in holding)
    row["response_rate"] = row["responded"] / row["prompted"] if row["prompted"] and not (small or held) else None
    return row


def _kpi_effect(definition, now, tallied, baselines, filters):
    """
    The course page's KPI figure of the definition's first metric (``kpi.kpi_figures``: activated
    minus not activated learners' mean change, Welch 95 % interval), from the tallies already
    read; None without a KPI requirement, or with a period chosen (the KPI tallies are not kept
    by run). Hidden as on the course page when a group is small; the row's own suppression
    hides it with the rate.
    """
    if not baselines or filters.since or filters.until:
        return None
    [first, *_others], _did = kpi_figures(definition, now, with_did=False, tallied=tallied, baselines=baselines)
    return {key: first[key] for key in ("metric", "baseline_days", "difference", "ci", "p_value", "suppressed")}


def _limits_curve(pooled, largest):
    """The funnel's four limits at ``LIMIT_POINTS`` course sizes from 1 to ``largest``, for drawing."""
    sizes = sorted({max(1, round(exp(log(largest) * step / (LIMIT_POINTS - 1)))) for step in range(LIMIT_POINTS)})
    curve = []
    for n, limits in zip(sizes, portfolio_stats.funnel_limits_at(pooled, sizes)):
        curve.append({"n": n, **{f"low_{level}": limits.low[level] for level in portfolio_stats.FUNNEL_LEVELS},
                      **{f"high_{level}": limits.high[level] for level in portfolio_stats.FUNNEL_LEVELS}})
    return curve


def _sorted(rows, sort):
    """Rows by ``sort`` (one of ``SORTS``, ``-`` reverses it); a course without the figure goes last."""
    name = sort.lstrip("-")
    key = {
        "rank": lambda row: row["rank"],
        "rate": lambda row: None if row["rate"] is None else -row["rate"],
        "eligible": lambda row: None if row["eligible"] is None else -row["eligible"],
        "change": lambda row: None if not row["change"] or row["change"]["difference"] is None
        else -row["change"]["difference"],
        "course": lambda row: (row["catalog_course"], row["name"]),
    }[name]
    present = [row for row in rows if key(row) is not None]
    absent = [row for row in rows if key(row) is None]
    present.sort(key=key, reverse=sort.startswith("-"))
    return present + absent


def portfolio(definitions, now=None, filters=Filters(), sort="rank", runs_seen=sees_no_run):
    """
    The portfolio of ``definitions`` (those the viewer may see), filtered by ``filters``.

    ``runs_seen``: given the courses' runs, those whose learners the viewer sees row by row (their
    staff: ``platform.course_staff_runs``), or None when the viewer sees every run (global
    staff). Over the learners the viewer cannot see, the figures move once a day and only
    when what changed since would not tell outcomes by difference, as on the course page
    (``release.read_many``): a run, or the answers, held today are hidden, and so is a segment
    value held in any course.

    Every course row is a disclosure like the course page's rate, so ``suppress_rows`` hides the
    small ones (and, when exactly one is hidden, the next smallest too: the portfolio's totals
    would give it away); with a hidden rate go every figure derived from it. The pooled rate and
    the prior are fitted on every course, hidden or not: they are sums over the portfolio.

    Returns:
        dict: ``rows`` (per course: completers, eligible, activated, rate, rate_ci, runs (each
        run's rate), change (the latest run against the previous one, ``base.compared``),
        response_rate, strength_mix (share of activations backed by each strength), kpi (the KPI
        effect of the first metric, ``_kpi_effect``, or None), shrunken,
        shrunken_ci, rank (by the shrunken rate, 1 best), position (on the funnel plot:
        ``portfolio_stats.funnel_position``), suppressed), ``pooled`` (rate_row of the
        portfolio), ``prior`` (alpha, beta, strength, rho, or None), ``limits`` (the funnel's
        curve), ``outliers`` (the rows beyond the 95 % limits), ``orgs`` and ``courses`` (the
        filters' choices among the viewer's definitions), ``segments`` (per dimension of
        ``PORTFOLIO_SEGMENTS``, the course page's segment rows pooled over the courses shown).
        Cached per viewer scope and filters until a course's figures change (``portfolio_cache``).
    """
    definitions = list(definitions)
    figures = portfolio_cache.cached(definitions, now, filters, runs_seen,
                                     lambda: _computed(definitions, now or timezone.now(), filters, runs_seen))
    return {**figures, "rows": _sorted(figures["rows"], sort)}


def _computed(definitions, now, filters, runs_seen):
    """``(figures, runs)``: ``portfolio``'s figures, rows in the definitions' order, and every run of the courses."""
    orgs = sorted({org_of(definition) for definition in definitions})
    courses = sorted({definition.catalog_course for definition in definitions})
    shown = [definition for definition in definitions
             if not (filters.org and org_of(definition) != filters.org
                     or filters.course and definition.catalog_course != filters.course)]
    baselines_of = tallies.metric_baselines_of(shown)
    tallied_of = tallies.read_many(shown, now, baselines_of)
    runs = sorted({str(row["course_run"]) for tallied in tallied_of.values() for row in tallied.cells})
    if runs_seen is None:
        read = {pk: (tallied, frozenset()) for pk, tallied in tallied_of.items()}
    else:
        seen = {str(run) for run in runs_seen(runs)}
        visible = {pk: seen & {str(row["course_run"]) for row in tallied.cells} for pk, tallied in tallied_of.items()}
        read = release.read_many(shown, now, tallied_of, visible,
                                 walked=portfolio_cache.walks(shown, now, visible, release.walk_many))
    rows, segment_cells, held, segments_held, strengths = [], [], [], set(), []
    for definition in shown:
        tallied, holding = read[definition.pk]
        counted, first_opened = _counted_cells(tallied.cells, filters)
        rows.append(_course_row(definition, counted, first_opened, holding))
        strengths.append({strength: sum(row[f"strength_{strength}"] for row in counted if row["ended"])
                          for strength in Evidence.Strength.values})
        held.append(_period_tells_a_run(tallied.cells, counted, first_opened))
        rows[-1]["kpi"] = _kpi_effect(definition, now, tallied, baselines_of[definition.pk], filters)
        segment_cells += cells(definition, now, tallies.Tallies(counted, [], {}, {}))
        segments_held |= {group for group in holding if group[0] != EVERYONE and group[0][0] in PORTFOLIO_SEGMENTS}
    counts = [(row["activated"], row["eligible"]) for row in rows if row["eligible"]]
    total, activated = sum(n for _x, n in counts), sum(x for x, _n in counts)
    pooled = rate_row(total, activated, 0)
    # Only when every course is hidden can the sum tell outcomes; then it is hidden with them.
    pooled["suppressed"] = bool(total) and reveals_outcomes(total, activated)
    if pooled["suppressed"]:
        pooled.update(dict.fromkeys(RATE_KEYS))
    prior = portfolio_stats.fit_beta_binomial(counts)
    _add_comparisons(rows, pooled["rate"], prior)
    if runs_seen is not None:
        _hide_telling_strengths(rows, strengths)
    suppress_rows(rows, held=held)
    for row in rows:
        if row["suppressed"]:
            row.update(dict.fromkeys(HIDDEN_WITH_THE_RATE))
    for row, rank in zip(rows, portfolio_stats.ranks([row["shrunken"] for row in rows])):
        row["rank"] = rank
    return {
        "rows": rows, "pooled": pooled, "courses_shown": sum(not row["suppressed"] for row in rows),
        "prior": None if prior is None else {"alpha": prior.alpha, "beta": prior.beta, "strength": prior.strength,
                                             "rho": prior.rho},
        "limits": _limits_curve(pooled["rate"], max(n for _x, n in counts)) if prior and not pooled["suppressed"]
        else [],
        "outliers": [row for row in _sorted(rows, "rate") if row["position"] not in (None, "inside")],
        "orgs": orgs, "courses": courses,
        "segments": {dimension: segments_from_cells(segment_cells, dimension, holding=segments_held)
                     for dimension in PORTFOLIO_SEGMENTS},
    }, runs


def _hide_telling_strengths(rows, strengths):
    """
    Hide, in every row's ``strength_mix``, a strength whose activations in some course fail the cell
    test (``strengths``: each row's count of activations per strength). The view filtered by that
    strength hides such a course, and with it another (``suppress_rows``); the filtered view's
    pooled sum minus its shown rows is the two courses' sum, and the unfiltered shares (counts,
    times the activations shown) of either would give the other's back. A breakdown hidden whole,
    as on the course page: the strengths of every course form one.
    """
    telling = {strength for row, counts in zip(rows, strengths) if row["eligible"]
               for strength, count in counts.items() if reveals_outcomes(row["eligible"], count)}
    for row in rows:
        row["strength_mix"] = {strength: None if strength in telling else share
                               for strength, share in row["strength_mix"].items()}


def _add_comparisons(rows, pooled_rate, prior):
    """Each row's shrunken rate and its position on the funnel plot, in place (None without a prior)."""
    for row in rows:
        row.update(shrunken=None, shrunken_ci=None, position=None, rank=None)
    compared_rows = [row for row in rows if row["eligible"]] if prior is not None else []
    if not compared_rows:
        return
    limits = portfolio_stats.funnel_limits_at(pooled_rate, [row["eligible"] for row in compared_rows])
    shrunken_rows = portfolio_stats.shrink_all([(row["activated"], row["eligible"]) for row in compared_rows], prior)
    for row, row_limits, shrunken in zip(compared_rows, limits, shrunken_rows):
        row.update(shrunken=shrunken.rate, shrunken_ci=(shrunken.low, shrunken.high),
                   position=portfolio_stats.funnel_position(row["activated"], row["eligible"], row_limits))


def standing(definition, now=None, own_rate_hidden=False):
    """
    Where the definition's course stands in its org's portfolio, for its instructors: its shrunken
    rate's rank among the org's active definitions that the portfolio ranks (those it does not
    hide), with the rank's plausible range (``rank_range``: from the courses whose 95 % intervals
    lie wholly above, or wholly below, its own), and the org's prior (its rate and weight).

    The instructor sees other courses' learners in none of it row by row, so it is released only
    when it cannot tell their outcomes: the course's own rate must be shown to this viewer
    (``own_rate_hidden`` is the course page's ``rate_suppressed``, tested on the runs they cannot
    see) and shown in the portfolio; the other courses together (the prior's rate minus the
    course's own) must not reveal outcomes (``base.reveals_outcomes``); and at least
    ``ACTIVATION_PORTFOLIO_STANDING_MIN_COURSES`` courses must be ranked. A hidden course is
    neither counted nor compared. Of the other courses the instructor learns only how many are
    ranked and how many rank above theirs (docs/concepts/portfolio.rst, "For the instructor").

    Returns:
        dict or None: ``org``, ``rank``, ``of``, ``rank_range`` (best, worst), ``shrunken``,
        ``shrunken_ci``, ``prior`` (``rate``, ``strength``); None when not released.
    """
    org = org_of(definition)
    org_definitions = ActivationDefinition.objects.filter(
        status=ActivationDefinition.Status.ACTIVE, catalog_course__startswith=f"{org}+").order_by("pk")
    figures = portfolio([candidate for candidate in org_definitions if org_of(candidate) == org], now)  # sees no run
    own = next((row for row in figures["rows"] if row["definition_id"] == definition.pk), None)
    if own_rate_hidden or own is None or own["rank"] is None or figures["pooled"]["suppressed"]:
        return None
    ranked = [row for row in figures["rows"] if row["rank"] is not None]
    others_eligible = figures["pooled"]["eligible"] - own["eligible"]
    if len(ranked) < settings.ACTIVATION_PORTFOLIO_STANDING_MIN_COURSES or reveals_outcomes(
            others_eligible, figures["pooled"]["activated"] - own["activated"]):
        return None
    low, high = own["shrunken_ci"]
    above = sum(row["shrunken_ci"][0] > high for row in ranked)
    below = sum(row["shrunken_ci"][1] < low for row in ranked)
    return {"org": org, "rank": own["rank"], "of": len(ranked), "rank_range": (1 + above, len(ranked) - below),
            "shrunken": own["shrunken"], "shrunken_ci": own["shrunken_ci"],
            "prior": {"rate": figures["pooled"]["rate"], "strength": figures["prior"]["strength"]}}


def csv_rows(figures):
    """The portfolio as the CSV export's rows: a header, then one row per course (blank where hidden)."""
    header = ["org", "catalog_course", "course_key", "definition_id", "definition", "completers", "eligible",
              "activated", "rate", "rate_low", "rate_high", "shrunken_rate", "shrunken_low", "shrunken_high", "rank",
              "funnel_position", "latest_run_change", "latest_run_change_low", "latest_run_change_high",
              "response_rate", *(f"share_{strength}" for strength in Evidence.Strength.values), "kpi_metric",
              "kpi_difference", "kpi_low", "kpi_high", "suppressed"]
    yield header
    for row in figures["rows"]:
        change, kpi = row["change"] or {}, row["kpi"] or {}
        yield [row["org"], row["catalog_course"], row["course_key"], row["definition_id"], row["name"],
               row["completers"], row["eligible"], row["activated"], row["rate"], *(row["rate_ci"] or ("", "")),
               row["shrunken"], *(row["shrunken_ci"] or ("", "")), row["rank"], row["position"],
               change.get("difference"), *(change.get("ci") or ("", "")), row["response_rate"],
               *((row["strength_mix"] or {}).get(strength) for strength in Evidence.Strength.values),
               kpi.get("metric"), kpi.get("difference"), *(kpi.get("ci") or ("", "")), row["suppressed"]]
