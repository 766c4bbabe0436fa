"""
Issue 34: the course effect reads its completers (their sums and their opening periods) from the
KPI tallies, not from the windows: the same figures as worked out from the raw rows, on random
data with windows of several lengths closing on either side of ``now`` and of today.
"""
import random
import statistics
from collections import defaultdict
from datetime import datetime, time, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from activation_plugin.figures import tallies
from activation_plugin.figures.course_effect import course_effect, course_effects
from activation_plugin.models import ActivationDefinition, ActivationWindow, MetricObservation
from tests.conftest import NOW, PROJECT
from tests.figures_data import make_windows, observe

METRIC = {"kind": "metric", "title": "CSAT up", "config": {
    "metric": "csat", "threshold": 4.0, "direction": "higher", "baseline_days": 20}}


@pytest.fixture
def definition(make_definition, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 2
    return make_definition(requirements=[PROJECT, METRIC], rule="any")


def _seed(definition, seed):
    """Completers opened over 80 days at random hours, windows of 30 and 14 days, some unmeasured; colleagues."""
    rng = random.Random(seed)
    for _ in range(40):
        opened_at = NOW - timedelta(days=rng.randint(14, 80), hours=rng.randint(0, 23), minutes=rng.randint(0, 59))
        definition.window_days = rng.choice((30, 14))
        [window] = make_windows(definition, 1, state=rng.choice(("expired", "activated")), opened_at=opened_at,
                                arm=rng.choice(("prompted", "holdout")))
        for _observation in range(rng.randint(0, 4)):
            observe(window.user, "csat", opened_at + timedelta(days=rng.uniform(-20, 30)), rng.uniform(1, 5))
    for number in range(12):
        for _observation in range(rng.randint(2, 12)):
            observe(None, "csat", NOW - timedelta(days=rng.uniform(0, 110)), rng.uniform(1, 5),
                    external_id=f"EMP-{number}")
    definition.window_days = 30


def _means(observations, start, end):
    values = [value for observed_at, value in observations if start <= observed_at < end]
    return statistics.fmean(values) if values else None


def _by_hand(definition, now, baseline_days=20):
    """The course effect's two groups worked out from the windows and observations, row by row."""
    completers, weights = [], defaultdict(int)
    for window in ActivationWindow.objects.filter(definition=definition, closes_at__lte=now):
        seen = list(MetricObservation.objects.filter(user=window.user, metric="csat").values_list(
            "observed_at", "value"))
        pre = _means(seen, window.opened_at - timedelta(days=baseline_days), window.opened_at)
        post = _means(seen, window.opened_at, window.closes_at)
        if pre is not None and post is not None:
            completers.append((pre, post))
            day = datetime.combine(window.opened_at.astimezone(dt_timezone.utc).date(), time.min,
                                   tzinfo=dt_timezone.utc)
            weights[(day, round((window.closes_at - window.opened_at) / timedelta(days=1)))] += 1
    colleagues = []
    for external_id in {f"EMP-{number}" for number in range(12)}:
        seen = sorted(MetricObservation.objects.filter(external_id=external_id).values_list("observed_at", "value"))
        pre = post = total = 0.0
        for (start, length), weight in weights.items():
            before = _means(seen, start - timedelta(days=baseline_days), start)
            during = _means(seen, start, start + timedelta(days=length))
            if before is not None and during is not None:
                pre, post, total = pre + weight * before, post + weight * during, total + weight
        if total:
            colleagues.append((pre / total, post / total))
    return completers, colleagues


def _assert_matches(result, completers, colleagues):
    assert result["completers"]["n"] == len(completers)
    assert result["untrained"]["n"] == len(colleagues)
    for group, pairs in (("completers", completers), ("untrained", colleagues)):
        assert result[group]["pre_mean"] == pytest.approx(statistics.fmean(pre for pre, _post in pairs))
        assert result[group]["pre_sd"] == pytest.approx(statistics.stdev(pre for pre, _post in pairs))
        assert result[group]["post_mean"] == pytest.approx(statistics.fmean(post for _pre, post in pairs))
        assert result[group]["mean_delta"] == pytest.approx(statistics.fmean(post - pre for pre, post in pairs))
    assert result["estimate"] == pytest.approx(statistics.fmean(post - pre for pre, post in completers)
                                               - statistics.fmean(post - pre for pre, post in colleagues))


@pytest.mark.parametrize("seed", range(4))
def test_course_effect_from_the_tallies_equals_the_raw_rows(definition, seed):
    _seed(definition, seed)
    # Mid-afternoon: some windows close later today, some closed earlier today (the day ``now`` splits).
    now = NOW + timedelta(hours=3, minutes=17)
    definition.refresh_from_db()
    assert definition.tallies_built_at is not None
    from_tallies = course_effect(definition, "csat", now)
    _assert_matches(from_tallies, *_by_hand(definition, now))
    # The same figures counted from the windows, as before the tallies were built.
    ActivationDefinition.objects.filter(pk=definition.pk).update(tallies_built_at=None)
    definition.refresh_from_db()
    from_windows = course_effect(definition, "csat", now)
    assert from_windows["completers"]["n"] == from_tallies["completers"]["n"]
    assert from_windows["estimate"] == pytest.approx(from_tallies["estimate"])
    assert from_windows["ci"] == pytest.approx(from_tallies["ci"])


def test_another_baseline_is_counted_from_the_windows(definition):
    """A caller asking about a baseline the requirements do not use gets it, counted from the windows."""
    _seed(definition, 7)
    _assert_matches(course_effect(definition, "csat", NOW, baseline_days=25), *_by_hand(definition, NOW, 25))


def test_the_completers_are_not_read_from_the_windows(definition):
    """
    Given the page's tallies, the course effect reads the untrained colleagues' observations only:
    no query works out a completer's means from the observations (an ``AVG`` per window, which read
    every ended window and its learner's observations).
    """
    _seed(definition, 3)
    baselines = tallies.metric_baselines(definition)
    tallied = tallies.read(definition, NOW, baselines=baselines)
    with CaptureQueriesContext(connection) as queries:
        [result] = course_effects(definition, NOW, baselines, tallied)
    assert result["completers"]["n"] > 0
    statements = [query["sql"] for query in queries.captured_queries]
    assert not [sql for sql in statements if "AVG(" in sql.upper()], statements
    # The sources, the course's definitions, the colleagues' observations; the platform's enrollments.
    assert len(statements) <= 4, statements
