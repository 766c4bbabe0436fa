"""
The public front of ``activation_plugin.api`` (docs/decisions/0017-the-public-front.rst): a short
list of names, data objects out, data objects accepted back, no model or queryset reaching the
caller; and background work queued without a registry to fill.
"""
import dataclasses
from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Model, QuerySet

from activation_plugin import api, data
from activation_plugin.api import background
from activation_plugin.errors import ActivationNotFound
from activation_plugin.kpi import sources
from activation_plugin.models import ActivationDefinition, MetricObservation
from tests.conftest import NOW, PROJECT

PLUMBING = ("run_once", "MAX_ID", "record_id_of", "HISTORY_FIELDS", "open_windows", "record_evidence",
            "definitions_with_requirements", "windows_in_course", "review_queue", "page_figures")


def leaves(value):
    """Every value inside dicts, lists, tuples and data objects."""
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from leaves(item)
    else:
        yield value


def test_the_public_front_is_short_and_holds_no_plumbing():
    assert 25 <= len(api.__all__) <= 35 and len(set(api.__all__)) == len(api.__all__)
    assert all(callable(getattr(api, name)) for name in api.__all__)
    assert not set(PLUMBING) & set(api.__all__)
    assert not hasattr(api, "register_background_work")


def test_a_definition_comes_back_as_a_frozen_snapshot_and_goes_back_in_as_one(course_key):
    draft = api.create_definition(course_key=course_key, name="Applies it", behavior="Uses it.", window_days=30,
                                  requirements=[PROJECT])
    assert isinstance(draft, data.ActivationDefinitionData) and draft.status == "draft"
    assert [requirement.kind for requirement in draft.requirements] == ["project"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        draft.status = "active"  # type: ignore[misc]
    active = api.activate_definition(draft)
    assert (active.id, active.status, draft.status) == (draft.id, "active", "draft")
    assert api.definition_in_course(course_key, draft.id) == active
    assert api.definitions_for_course(course_key) == (active,)
    assert api.definitions_for_course(course_key, status="draft") == ()
    assert api.archive_definition(active).status == "archived"


def test_a_snapshot_of_a_deleted_definition_is_not_found(make_definition, course_key):
    gone = api.definition_in_course(course_key, make_definition().pk)
    ActivationDefinition.objects.filter(pk=gone.id).delete()
    with pytest.raises(ActivationNotFound):
        api.summarize(gone)


def test_completions_open_windows_returned_as_data(transactional_db, make_definition, learner, course_key):
    make_definition()
    with transaction.atomic():
        assert api.record_completion(learner.id, course_key, "passing", NOW) == ()  # opened after the commit
    [window] = api.record_completion(learner.id, course_key, "passing", NOW)  # outside one: at once (idempotent)
    assert isinstance(window, data.ActivationWindowData) and (window.user_id, window.state) == (learner.id, "open")


def test_figures_take_the_snapshot_and_return_plain_values(make_definition, learner, course_key):
    definition = make_definition()
    api.open_windows(learner.id, course_key, "passing", NOW - timedelta(days=40))
    snapshot = api.definition_in_course(course_key, definition.pk)
    assert api.summarize(snapshot) == api.summarize(definition)
    figures = api.analytics(snapshot)
    assert figures["summary"] == api.summarize(definition)
    assert [leaf for leaf in leaves(figures) if isinstance(leaf, (Model, QuerySet))] == []


def test_a_kpi_source_comes_back_as_data_and_takes_records(settings, make_definition, learner, course_key):
    make_definition()
    api.open_windows(learner.id, course_key, "passing", NOW)
    settings.ACTIVATION_METRIC_SOURCES = {"tickets": {"kind": "webhook", "secret": "s" * 32}}
    source = api.sync_metric_source(sources.get("tickets"))
    assert isinstance(source, data.MetricSourceData) and source.name == "tickets"
    stored = api.ingest_observations(source, [{"external_id": learner.email, "metric": "csat", "value": 4,
                                               "observed_at": NOW.isoformat()}], now=NOW + timedelta(hours=1))
    assert stored["stored"] == 1 and MetricObservation.objects.get().user == learner
    finished = api.finish_pull(source, cursor="42", now=NOW)
    assert isinstance(finished, data.MetricSourceData) and finished.cursor == "42"


def test_background_work_is_queued_through_the_tasks_themselves(monkeypatch, make_definition):
    """No registry: the api imports the task when it queues one, so nothing has to register it first."""
    from activation_plugin import tasks  # pylint: disable=import-outside-toplevel
    queued = []
    monkeypatch.setattr(tasks.backfill, "delay", lambda *args: queued.append(("backfill", *args)))
    monkeypatch.setattr(tasks.refresh_figures, "delay", lambda *args: queued.append(("refresh", *args)))
    definition = make_definition()
    background.request_backfill(definition)
    background._refresh_figures(definition.pk, ["run"])  # pylint: disable=protected-access
    assert queued == [("backfill", definition.pk), ("refresh", definition.pk, ["run"])]
