"""
Everything the Activation tab shows for one definition, in one call, cached.

Caching: the cache key holds a per-definition *version token* that the api replaces whenever a
window, evidence or review of the definition changes or the definition is edited
(:func:`invalidate`), and a global token replaced whenever a KPI observation arrives or a learner
is retired (:func:`invalidate_observations`; one observation can matter to any definition using
its metric). Tokens are random, not counters, so a token evicted from the cache can never come
back with a value an old entry was stored under. Entries also expire after
``ACTIVATION_FIGURES_CACHE_SECONDS``, because some figures move with the clock alone (an open
window becomes eligible when it ends) and prompt deliveries (the funnel's "prompted") do not
replace the token: the tick sends them in bulk and would empty the cache every run.
"""
import hashlib
import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from activation_plugin.figures import release, tallies
from activation_plugin.figures.base import cells, min_cell_size, unseen
from activation_plugin.figures.comparisons import (
    SEGMENT_DIMENSIONS,
    arms_from_cells,
    runs_from_cells,
    segments_from_cells,
)
from activation_plugin.figures.course_effect import course_effects
from activation_plugin.figures.headline import funnel_counts, funnel_from_counts, persistence, summarize
from activation_plugin.figures.kpi import kpi_figures
from activation_plugin.figures.quality import data_quality

OBSERVATIONS_TOKEN = "activation:figures:observations"


def _definition_token(definition_id):
    return f"activation:figures:definition:{definition_id}"


def _replace_tokens(keys):
    cache.set_many({key: uuid.uuid4().hex for key in keys}, timeout=None)


def _replace_now_and_after_commit(keys):
    """
    Now, so the writer's own next read is fresh; and again after commit, because a reader that ran
    while the transaction was open may have cached the old figures under the first new token.
    """
    _replace_tokens(keys)
    transaction.on_commit(lambda: _replace_tokens(keys))


def invalidate(*definition_ids):
    """Drop the cached figures of these definitions; the api calls it on every write that changes them."""
    _replace_now_and_after_commit([_definition_token(pk) for pk in definition_ids])


def invalidate_observations():
    """Drop every definition's cached figures: a KPI observation may feed any of them."""
    _replace_now_and_after_commit([OBSERVATIONS_TOKEN])


def _scope(visible_runs):
    """The viewer's runs as a cache-key part: figures differ by what the viewer sees row by row."""
    runs = sorted({str(run) for run in visible_runs})
    return hashlib.sha256("\n".join(runs).encode()).hexdigest()[:16] if runs else "none"


def versions(definition_ids):
    """
    ``[token]``: the version tokens of these definitions' figures, then the observations' token,
    in one read of the cache however many; a token never set is set now (a first visit's).
    """
    keys = [*(_definition_token(pk) for pk in definition_ids), OBSERVATIONS_TOKEN]
    tokens = cache.get_many(keys)
    for key in keys:
        if key not in tokens:
            cache.add(key, uuid.uuid4().hex, timeout=None)
            tokens[key] = cache.get(key)
    return [tokens[key] for key in keys]


def _cache_key(definition, now, visible_runs=()):
    token, observations = versions([definition.pk])
    moment = "live" if now is None else now.isoformat()
    return f"activation:figures:analytics:{definition.pk}:{token}:{observations}:{moment}:{_scope(visible_runs)}"


def analytics(definition, now=None, visible_runs=()):
    """
    Every figure of the Activation tab for one definition, with a fixed number of queries
    whatever the number of windows (the breakdowns share one grouped query).

    Args:
        now: the moment figures are computed for; by default the present, cached for up to
            ``ACTIVATION_FIGURES_CACHE_SECONDS`` (an explicit ``now`` is cached under its own key).
        visible_runs: the runs whose learners the viewer sees row by row (their staff may download
            the windows CSV); suppression protects the others only (``base.unseen``). By default
            none: the figures are safe for anyone allowed to see them.

    Returns:
        dict: ``computed_at``, ``summary`` (:func:`summarize`), ``funnel``, ``persistence``,
        ``runs`` (:func:`compare_runs`), ``arms`` (:func:`compare_arms`, None without a holdout),
        ``segments`` (``{dimension: rows}``), ``kpi`` (:func:`kpi_deltas`), ``did`` (a
        :func:`difference_in_differences` per KPI metric, empty without a holdout),
        ``course_effect`` (a :func:`~activation_plugin.figures.course_effect.course_effect` per KPI
        metric) and ``data_quality``. Small cells are suppressed throughout. ``arms`` and ``did``
        carry ``effect_of: "follow_up"``: the holdout withholds the prompts, not the course.
    """
    key = _cache_key(definition, now, visible_runs)
    figures = cache.get(key)
    if figures is not None:
        return figures
    started, moment = time.monotonic(), now or timezone.now()
    baselines = tallies.metric_baselines(definition)
    # The rates move once a day, and are held while what changed since would tell outcomes (release).
    tallied, holding = release.read(definition, moment, visible_runs, baselines=baselines)
    cell_rows = cells(definition, moment, tallied)
    hidden = unseen(tallied, visible_runs)
    hidden_cells = cells(definition, moment, hidden)
    arms = arms_from_cells(cell_rows, hidden_cells, holding)
    summary = summarize(definition, now=moment, tallied=tallied, visible_runs=visible_runs, holding=holding)
    hidden_splits = {split for split, is_hidden in (
        ("outcomes", summary["rate_suppressed"]),
        ("arms", arms is not None and any(arm["suppressed"] for arm in arms["arms"]))) if is_hidden}
    kpi, did = kpi_figures(definition, moment, with_did=arms is not None, tallied=tallied, baselines=baselines,
                           hidden=hidden_splits, unseen_learners=bool(hidden.cells))
    stage_counts = funnel_counts(definition, moment, tallied)
    figures = {
        "computed_at": moment,
        "summary": summary,
        "funnel": funnel_from_counts(stage_counts, funnel_counts(definition, moment, hidden), holding),
        "persistence": persistence(definition, tallied, visible_runs),
        "runs": runs_from_cells(cell_rows, hidden_cells, holding),
        "arms": arms and {**arms, "effect_of": "follow_up"},
        "segments": {dimension: segments_from_cells(cell_rows, dimension, hidden_cells, holding)
                     for dimension in SEGMENT_DIMENSIONS},
        "kpi": kpi,
        "did": did,
        "course_effect": course_effects(definition, moment, baselines, tallied,
                                        "every" if not hidden.cells else "some" if visible_runs else "none"),
        "data_quality": data_quality(definition, now=moment, funnel_counts=stage_counts, tallied=tallied,
                                     visible_runs=visible_runs, holding=holding),
        # What waits to be released for a viewer who cannot see every run row by row (None: nothing can).
        "release": {"through": holding.through, "windows_waiting": holding.windows,
                    "changes_waiting": holding.changes} if hidden.cells and min_cell_size() > 1 else None,
    }
    cache.set(key, figures, settings.ACTIVATION_FIGURES_CACHE_SECONDS)
    if now is None:
        cache.set(_latest_key(definition.pk, visible_runs),
                  {"figures": figures, "seconds": time.monotonic() - started}, timeout=None)
        cache.delete(_refresh_lock(definition.pk, visible_runs))
    return figures


def _latest_key(definition_id, visible_runs):
    return f"activation:figures:latest:{definition_id}:{_scope(visible_runs)}"


def _refresh_lock(definition_id, visible_runs):
    return f"activation:figures:refreshing:{definition_id}:{_scope(visible_runs)}"


def page_figures(definition, schedule_refresh, visible_runs=()):
    """
    What a page shows: the current figures, computed now if need be, unless computing them took
    longer than ``ACTIVATION_FIGURES_SYNC_SECONDS`` last time. Then a large, busy definition (whose
    figures every new completion invalidates) would make every page view wait for a full
    computation: instead the page gets the last figures, marked ``stale``, and
    ``schedule_refresh(definition_id, visible_runs)`` computes fresh ones in the background, one at a
    time per viewer scope (``analytics``' ``visible_runs``).
    """
    figures = cache.get(_cache_key(definition, None, visible_runs))
    if figures is not None:
        return figures
    latest = cache.get(_latest_key(definition.pk, visible_runs))
    if latest is not None and latest["seconds"] > settings.ACTIVATION_FIGURES_SYNC_SECONDS:
        if cache.add(_refresh_lock(definition.pk, visible_runs), True,
                     timeout=settings.ACTIVATION_FIGURES_CACHE_SECONDS):
            schedule_refresh(definition.pk, sorted(str(run) for run in visible_runs))
        return {**latest["figures"], "stale": True}
    return analytics(definition, visible_runs=visible_runs)
