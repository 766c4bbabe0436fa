"""
Work the api hands to the background: recomputing a slow definition's figures, opening windows
for past completers. The Celery tasks import the api, so the api imports them only when it queues
one (as the receivers do for a completion they could not store): no registry for the tasks to
fill at import time, and a view that asks for background work needs no app ``ready`` to have run.
"""
from activation_plugin import figures


def request_backfill(definition):
    """Open windows for a definition's past completers in the background (``api.backfill``)."""
    from activation_plugin.tasks import backfill  # pylint: disable=import-outside-toplevel,cyclic-import
    backfill.delay(definition.pk)


def _refresh_figures(definition_id, visible_runs):
    from activation_plugin.tasks import refresh_figures  # pylint: disable=import-outside-toplevel,cyclic-import
    refresh_figures.delay(definition_id, visible_runs)


def page_figures(definition, schedule_refresh=None, visible_runs=()):
    """
    ``figures.page_figures``: what a page shows, fresh or (for a definition slow to compute) the
    last figures marked stale while a background task recomputes them.
    """
    return figures.page_figures(definition, schedule_refresh or _refresh_figures, visible_runs)
