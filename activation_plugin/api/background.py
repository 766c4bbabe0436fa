"""
Work the api hands to the background: recomputing a slow definition's figures, opening windows
for past completers. ``activation_plugin.tasks`` registers its Celery tasks here when it is
imported (the app's ``ready``), so views ask the api, the api asks this registry, and neither
imports the tasks that import the api.
"""
import functools

from activation_plugin import figures

_RUNNERS = {}


def register(name, run):
    """``run(*args)`` queues the work called ``name``."""
    _RUNNERS[name] = run


def schedule(name, *args):
    """
    Queue the work ``name``.

    Raises:
        LookupError: nothing registered it (the app's ``ready`` did not run).
    """
    try:
        run = _RUNNERS[name]
    except KeyError:
        raise LookupError(f"No background work named {name!r}: is activation_plugin in INSTALLED_APPS?") from None
    run(*args)


def request_backfill(definition):
    """Open windows for a definition's past completers in the background (``api.backfill``)."""
    schedule("backfill", definition.pk)


def page_figures(definition, schedule_refresh=None, visible_runs=()):
    """
    ``figures.page_figures``: what a page shows, fresh or (for a definition slow to compute) the
    last figures marked stale while a background task recomputes them.
    """
    return figures.page_figures(definition, schedule_refresh or functools.partial(schedule, "refresh_figures"),
                                visible_runs)
