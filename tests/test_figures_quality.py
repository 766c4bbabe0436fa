"""The data-quality panel on hand-built evidence, observations and sources."""
from datetime import timedelta

from activation_plugin import api
from tests.conftest import NOW, PROJECT
from tests.figures_data import add_evidence, make_users, make_windows, observe, source

METRIC = {"kind": "metric", "title": "CSAT up", "config": {
    "metric": "csat", "threshold": 4.0, "direction": "higher", "baseline_days": 20}}


def test_data_quality_panel(make_definition):
    definition = make_definition(requirements=[{**PROJECT, "verification": "staff"}, METRIC], holdout_percent=20)
    prompted = make_windows(definition, 10, state="expired")
    add_evidence(prompted[:2])
    add_evidence(prompted[2:3], status="submitted")
    add_evidence(prompted[3:4], status="rejected")
    add_evidence(make_windows(definition, 5, state="expired", arm="holdout")[:1], status="submitted")
    add_evidence(make_windows(definition, 1, state="withdrawn"), status="submitted")

    learner, opened = prompted[0].user, prompted[0].opened_at
    observe(learner, "csat", opened - timedelta(days=10), 3.0)  # baseline: used
    observe(learner, "csat", opened + timedelta(days=10), 4.0)  # in the window: used
    observe(learner, "csat", opened - timedelta(days=100), 4.0)  # before the baseline: unused
    observe(learner, "csat", opened + timedelta(days=45), 4.0)  # after the window: unused
    observe(learner, "csat", NOW + timedelta(days=2), 4.0)  # in the future (and after the window)
    observe(make_users(1)[0], "csat", opened - timedelta(days=100), 4.0)  # not this definition's learner
    for day, external_id in enumerate(("a@x", "a@x", "b@x")):
        observe(None, "csat", opened + timedelta(days=day), 1.0, external_id=external_id)
    observe(None, "revenue", opened, 1.0)  # a metric this definition does not use
    source("broken-crm", last_status="error", last_error="HTTP 500 from https://crm.example")
    source("fine-crm", last_status="ok")

    quality = api.data_quality(definition, now=NOW)
    failing = quality.pop("failing_sources")
    assert quality == {
        "prompted": 10, "responded": 3, "response_rate": 0.3, "awaiting_review": 2, "metrics": ["csat"],
        "unmatched_identities": 2, "future_observations": 1, "observations_outside_windows": 3,
    }
    assert [(row["name"], row["last_error"]) for row in failing] == [("broken-crm", "HTTP 500 from https://crm.example")]


def test_data_quality_without_metrics_or_learners(make_definition):
    quality = api.data_quality(make_definition(), now=NOW)
    assert quality == {"prompted": 0, "responded": 0, "response_rate": None, "awaiting_review": 0, "metrics": [],
                       "unmatched_identities": 0, "future_observations": 0, "observations_outside_windows": 0,
                       "failing_sources": []}


def test_small_response_rate_is_hidden(make_definition):
    definition = make_definition()
    add_evidence(make_windows(definition, 3, state="expired"))
    quality = api.data_quality(definition, now=NOW)
    assert (quality["prompted"], quality["responded"], quality["response_rate"]) == (None, None, None)
