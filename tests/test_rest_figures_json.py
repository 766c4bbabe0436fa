"""The generic conversion of figures to JSON: new figures reach the API without a serializer change."""
import dataclasses
import datetime
import decimal
import json
import math
from typing import NamedTuple

from activation_plugin.rest_api.v1.serializers import SummarySerializer, plain_json
from tests.factories import DefinitionFactory


class Delta(NamedTuple):
    estimate: float
    low: float
    high: float


@dataclasses.dataclass
class Cell:
    segment: str
    n: int
    suppressed: bool


class Opaque:
    def __str__(self):
        return "opaque"


def test_plain_json_converts_every_figure_shape_faithfully():
    figures = {
        "rate": 0.25, "rate_ci": (0.1, 0.4), "undefined": math.nan, "unbounded": -math.inf,
        "delta": Delta(0.1, -0.05, 0.25), "cells": [Cell("audit", 4, True)], "roi": decimal.Decimal("1.50"),
        "since": datetime.date(2026, 1, 31), "at": datetime.datetime(2026, 1, 31, 12, tzinfo=datetime.timezone.utc),
        "arms": {"holdout", "prompted"}, 3: "int key", "nested": {"by_day": [(1, 2), (2, 0)]}, "none": None,
    }
    converted = plain_json(figures)
    assert json.loads(json.dumps(converted, allow_nan=False)) == converted
    assert converted["rate_ci"] == [0.1, 0.4] and converted["undefined"] is None and converted["unbounded"] is None
    assert converted["delta"] == {"estimate": 0.1, "low": -0.05, "high": 0.25}
    assert converted["cells"] == [{"segment": "audit", "n": 4, "suppressed": True}]
    assert (converted["roi"], converted["since"], converted["at"]) == (1.5, "2026-01-31", "2026-01-31T12:00:00+00:00")
    assert sorted(converted["arms"]) == ["holdout", "prompted"] and converted["3"] == "int key"
    assert converted["nested"] == {"by_day": [[1, 2], [2, 0]]} and converted["none"] is None
    assert plain_json({"key": Opaque()}) == {"key": "opaque"}  # an unknown type degrades to text, never an error


def test_summary_passes_figures_it_does_not_know(db):
    definition = DefinitionFactory()
    data = SummarySerializer({"definition": definition, "figures": {
        "completers": 3, "funnel": [{"stage": "prompted", "n": 2}], "kpi_delta": Delta(1.0, 0.5, 1.5)}}).data
    assert data["figures"]["funnel"] == [{"stage": "prompted", "n": 2}]
    assert data["figures"]["kpi_delta"] == {"estimate": 1.0, "low": 0.5, "high": 1.5}
    assert "holdout_seed" not in data["definition"]
