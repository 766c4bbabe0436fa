"""
The portfolio's figures, cached per viewer scope and filters under what changes them
(docs/decisions/0007-figures-cache.rst): the version tokens of every definition shown and of the KPI
observations (one read of the cache), which the api replaces on every write that changes a course's
figures, so a new activation in one course is a new key. The clock moves figures too (a window ends;
over the learners a viewer cannot see, the day releases them), so an entry of the present lives
for ``ACTIVATION_FIGURES_CACHE_SECONDS`` and only within its UTC day (the day is in its key).

The viewer's scope is the runs they see row by row among the courses' runs: viewers who see the same
runs (every one, or none, the org leads' usual case) share entries. Those runs are cached under the
versions alone, so a warm call asks the roles once and reads three cache entries.

For a viewer who cannot see every run, each course's release walk (``release.walk_many``: where its
figures stand today among the learners the viewer cannot see) is cached on its own, under the
course's version token, the UTC day and the course's runs the viewer sees: a portfolio recomputed
after a write to one course walks that course's closing days again, not every course's.
"""
import hashlib
from datetime import datetime, time, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from activation_plugin.figures.analytics import versions
from activation_plugin.figures.tallies import utc_day


def _digest(parts):
    return hashlib.sha256("\n".join(str(part) for part in parts).encode()).hexdigest()[:32]


def _scope(runs_seen, runs):
    """``every`` for a viewer who sees every run, else a digest of the runs seen (``runs_seen(runs)``)."""
    return "every" if runs_seen is None else _digest(sorted(runs_seen(runs)))


def cached(definitions, now, filters, runs_seen, compute):
    """
    The portfolio's figures of ``definitions`` at ``now`` (None: the present) for ``filters`` and a
    viewer who sees ``runs_seen`` (``portfolio.portfolio``'s), from the cache or ``compute()``,
    which returns ``(figures, runs)``: the figures and every run of the courses.
    """
    *tokens, observations = versions([definition.pk for definition in definitions])
    version = _digest([*(f"{definition.pk}:{token}" for definition, token in zip(definitions, tokens)), observations])
    moment = f"live:{utc_day(timezone.now())}" if now is None else now.isoformat()
    runs_key = f"activation:portfolio:runs:{version}:{_digest(filters)}"  # the runs of the courses shown

    def figures_key(runs):
        return f"activation:portfolio:{version}:{_scope(runs_seen, runs)}:{moment}:{_digest(filters)}"

    runs = cache.get(runs_key)
    if runs is not None:
        figures = cache.get(figures_key(runs))
        if figures is not None:
            return figures
    figures, runs = compute()
    cache.set(runs_key, runs, settings.ACTIVATION_FIGURES_CACHE_SECONDS)
    cache.set(figures_key(runs), figures, settings.ACTIVATION_FIGURES_CACHE_SECONDS)
    return figures


def walks(definitions, now, visible_runs_of, walk_many):
    """
    ``{definition id: walk}`` of ``definitions`` at ``now`` for a viewer who sees ``visible_runs_of``
    (``{id: runs}``, the course's own runs only, so that viewers who see the same of them share the
    entry): from the cache, and ``walk_many`` (``release.walk_many``) for the courses not in it. A
    walk moves only with the course's tallies (its version token) and the day, both in its key; it
    is kept until the day ends.
    """
    tokens = versions([definition.pk for definition in definitions])[:-1]
    day = utc_day(now)
    keys = {definition.pk: f"activation:portfolio:walk:{definition.pk}:{token}:{day}:"
                           f"{_digest(sorted(str(run) for run in visible_runs_of[definition.pk]))}"
            for definition, token in zip(definitions, tokens)}
    found = cache.get_many(list(keys.values()))
    walked = {pk: found[key] for pk, key in keys.items() if key in found}
    missing = [definition for definition in definitions if definition.pk not in walked]
    if missing:
        fresh = walk_many(missing, now, {definition.pk: visible_runs_of[definition.pk] for definition in missing})
        day_end = datetime.combine(day, time.min, tzinfo=dt_timezone.utc) + timedelta(days=1)
        cache.set_many({keys[pk]: walk for pk, walk in fresh.items()},
                       max(1, int((day_end - timezone.now()).total_seconds())) if day == utc_day(timezone.now())
                       else settings.ACTIVATION_FIGURES_CACHE_SECONDS)
        walked |= fresh
    return walked
