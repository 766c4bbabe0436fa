"""
The public front of ``activation_plugin.api`` (OEP-49): what other apps and operators' scripts
call, returning the data objects of ``activation_plugin.data`` and plain values, never a model or
a queryset (docs/decisions/0017-the-public-front.rst).

Each function here is the concept module's own, converted at the edge: a definition or a KPI
source passed in may be its data object (read again by ``id``) or, from the plugin's own code, the
row itself; what comes out is a snapshot. The plugin's pages and REST views, which render and
serialize rows, call the concept modules directly.
"""
import functools

from django.utils.translation import gettext as _

from activation_plugin import figures
from activation_plugin.api import definitions, metric_sources, metrics, plans, tallies
from activation_plugin.api.backfill import backfill as _backfill
from activation_plugin.api.completions import record_completion as _record_completion
from activation_plugin.api.queries import definition_in_course as _definition_in_course
from activation_plugin.data import ActivationDefinitionData, ActivationWindowData, MetricSourceData
from activation_plugin.errors import ActivationNotFound
from activation_plugin.models import ActivationDefinition, MetricSource


def _row(model, value):
    """The row behind a data object; a row passed by the plugin's own code is used as it is."""
    if not isinstance(value, (ActivationDefinitionData, MetricSourceData)):
        return value
    row = model.objects.filter(pk=value.id).first()
    if row is None:
        if model is MetricSource:
            raise ActivationNotFound(_("No metric source {name}.").format(name=repr(value.name)), field="source")
        raise ActivationNotFound(_("No such activation definition."), field="definition")
    return row


_DATA_CLASSES = {ActivationDefinition: ActivationDefinitionData, MetricSource: MetricSourceData}


def _documented(public, function, model, returns=None):
    """``function``'s docstring, saying what the public front takes and gives instead of rows."""
    public.__doc__ = (function.__doc__ or "").rstrip() + (
        f"\n\n    Public front: the first argument may be the ``{_DATA_CLASSES[model].__name__}`` of the row."
        + (f"\n\n    Returns:\n        {returns.__name__}: the row as it is after the call.\n" if returns else "\n"))
    return public


def _taking(model, function):
    """``function`` with its first argument (a definition or a source) accepted as its data object too."""
    @functools.wraps(function)
    def public(first, *args, **kwargs):
        return function(_row(model, first), *args, **kwargs)
    return _documented(public, function, model)


def _returning_data(model, data_class, function):
    """``function`` taking a data object (see ``_taking``) and returning the snapshot of the row it returns."""
    @functools.wraps(function)
    def public(first, *args, **kwargs):
        return data_class.from_model(function(_row(model, first), *args, **kwargs))
    return _documented(public, function, model, returns=data_class)


def create_definition(**fields):
    """
    A draft definition (``definitions.create_definition``: same arguments, same errors).

    Returns:
        ActivationDefinitionData: the draft, with its requirements.
    """
    return ActivationDefinitionData.from_model(definitions.create_definition(**fields))


activate_definition = _returning_data(ActivationDefinition, ActivationDefinitionData,
                                      definitions.activate_definition)
archive_definition = _returning_data(ActivationDefinition, ActivationDefinitionData, definitions.archive_definition)
register_plan = _returning_data(ActivationDefinition, ActivationDefinitionData, plans.register_plan)


def definitions_for_course(course_key, status=None):
    """
    Every definition covering this course run (authored in any run of its catalog course), newest
    first; only those in ``status`` (``draft``, ``active``, ``archived``) when it is given.

    Returns:
        tuple[ActivationDefinitionData, ...]
    """
    rows = definitions.definitions_for_course(course_key)
    if status is not None:
        rows = rows.filter(status=status)
    return tuple(ActivationDefinitionData.from_model(row) for row in rows.prefetch_related("requirements"))


def definition_in_course(course_key, definition_id):
    """
    One definition, only if it covers this course run (ids from outside are checked, not trusted).

    Returns:
        ActivationDefinitionData

    Raises:
        ActivationNotFound: no such definition in this course.
    """
    return ActivationDefinitionData.from_model(_definition_in_course(course_key, definition_id))


def record_completion(user_id, course_key, trigger, occurred_at):
    """
    Store a completion and open its windows once the caller's transaction commits
    (``completions.record_completion``: same arguments, same errors).

    Returns:
        tuple[ActivationWindowData, ...]: the windows opened now; empty if they wait for the
        caller's commit or for a retry.
    """
    return tuple(ActivationWindowData.from_model(window)
                 for window in _record_completion(user_id, course_key, trigger, occurred_at))


backfill = _taking(ActivationDefinition, _backfill)
rebuild_tallies = _taking(ActivationDefinition, tallies.rebuild)


def sync_metric_source(config):
    """
    The state of a declared KPI source, its row created or brought in line with the settings
    (``metric_sources.sync_metric_source``). Idempotent.

    Returns:
        MetricSourceData: what ``ingest_observations`` and ``finish_pull`` take.
    """
    return MetricSourceData.from_model(metric_sources.sync_metric_source(config))


finish_pull = _returning_data(MetricSource, MetricSourceData, metric_sources.finish_pull)
ingest_observations = _taking(MetricSource, metrics.ingest_observations)
link_identities = _taking(MetricSource, metrics.link_identities)
resolve_observations = _taking(MetricSource, metrics.resolve_observations)

summarize = _taking(ActivationDefinition, figures.summarize)
analytics = _taking(ActivationDefinition, figures.analytics)
compare_arms = _taking(ActivationDefinition, figures.compare_arms)
compare_runs = _taking(ActivationDefinition, figures.compare_runs)
segments = _taking(ActivationDefinition, figures.segments)
kpi_deltas = _taking(ActivationDefinition, figures.kpi_deltas)
difference_in_differences = _taking(ActivationDefinition, figures.difference_in_differences)
roi = _taking(ActivationDefinition, figures.roi)
data_quality = _taking(ActivationDefinition, figures.data_quality)
plan_comparison = _taking(ActivationDefinition, plans.plan_comparison)
