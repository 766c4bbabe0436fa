"""
The portfolio's statistics in the Aspects chart *Activation portfolio* (the rates dataset's saved
metrics in tutor/tutoractivation/patches/superset-extra-assets) on the real ClickHouse engine (chdb),
against the plugin's own (activation_plugin.portfolio_stats) on the same counts: the portfolio rate,
the method-of-moments prior and the shrunken rates exactly, the funnel limits exactly (exact
binomial quantiles), the shrunken intervals within the tolerance their approximation is stated to
have. The windows are written straight into a table standing in for the ``activation_windows`` model,
so that portfolios of known rates can be large; the real ``activation_rates`` model sums them, and
tests/test_aspects_sql.py checks both models against the page on statements ERB made.
"""
import json

import numpy as np
import pytest

from activation_plugin import portfolio_stats as ps
from tests.aspects_support import (
    SHRUNKEN_TOLERANCE,
    SHRUNKEN_TOLERANCE_FROM_1,
    chart_queries,
    render,
    shrunken_tolerance,
    superset_assets,
)

CHART = "Activation portfolio"


class Warehouse:
    """A chdb session with the rates model over a table of windows written directly."""

    def __init__(self, tmp_path):
        from chdb import session  # pylint: disable=import-outside-toplevel
        self.session = session.Session(str(tmp_path / "chdb"))
        self.session.query("CREATE DATABASE IF NOT EXISTS reporting")
        # The columns of the activation_windows model that activation_rates reads, with its types.
        self.session.query(
            "CREATE TABLE reporting.activation_windows (window_id UInt64, definition_id UInt64, "
            "catalog_course String, course_key String, org String, arm String, "
            "opened_at Nullable(DateTime64(6, 'UTC')), ended Nullable(UInt8), activated UInt8) ENGINE Memory")
        self.session.query(f"CREATE VIEW reporting.activation_rates AS {render('activation_rates', {})}")
        self.windows = 0

    def add(self, definition_id, run, activated, ended, running=0):
        """
        Windows of ``run`` (``org+course+run``): ``ended`` that ended, ``activated`` of them
        activated, and ``running`` still running, half of them activated (censored: in no rate).
        """
        org, course, _run = run.split("+")
        total = ended + running
        self.session.query(
            "INSERT INTO reporting.activation_windows SELECT "
            f"{self.windows} + number, {definition_id}, '{org}+{course}', 'course-v1:{run}', '{org}', 'prompted', "
            f"toDateTime64('2026-01-01 00:00:00', 6, 'UTC'), number < {ended}, "
            f"number < {activated} or (number >= {ended} and number % 2 = 0) FROM numbers({total})")
        self.windows += total

    def chart(self, **options):
        result = self.session.query(chart_queries(superset_assets(), **options)[CHART], "JSONEachRow")
        return [json.loads(line) for line in result.bytes().decode().splitlines() if line]

    def close(self):
        self.session.close()


@pytest.fixture
def warehouse(tmp_path):
    made = Warehouse(tmp_path)
    yield made
    made.close()


def known_portfolio(seed=33):
    """
    ``{definition_id: (run, activated, ended)}``: ten courses of 120 to 900 learners at true rates
    around 30 %, one truly better (55 %) and one truly worse (10 %), counts drawn binomially; a
    course of 3 activated of 3; one whose windows are all still running.
    """
    rng = np.random.default_rng(seed)
    true_rates = [0.22, 0.25, 0.28, 0.3, 0.3, 0.32, 0.34, 0.37, 0.55, 0.10]
    sizes = [120, 900, 300, 450, 160, 600, 250, 700, 400, 350]
    courses = {}
    for number, (rate, size) in enumerate(zip(true_rates, sizes), start=1):
        org = "AcmeX" if number % 2 else "OtherX"
        courses[number] = (f"{org}+C{number}+2026", int(rng.binomial(size, rate)), size)
    courses[11] = ("AcmeX+LUCKY+2026", 3, 3)
    return courses


def load(warehouse, courses, running=None):
    """Each course's windows, split over two runs where it has more than ten (the chart sums its runs)."""
    for definition_id, (run, activated, ended) in courses.items():
        if ended > 10:
            first_ended, first_activated = ended // 3, activated // 3
            earlier = run.replace("+2026", "+2025")
            warehouse.add(definition_id, earlier, first_activated, first_ended, running=4)
            warehouse.add(definition_id, run, activated - first_activated, ended - first_ended)
        else:
            warehouse.add(definition_id, run, activated, ended)
    for definition_id, run in (running or {}).items():
        warehouse.add(definition_id, run, 0, 0, running=7)


def assert_plugin_s_figures(rows, courses):
    """The chart's rows carry portfolio_stats' figures of ``courses`` (``{definition_id: (run, x, n)}``)."""
    counts = [(x, n) for _run, x, n in courses.values()]
    pooled, prior = ps.pooled_rate(counts), ps.fit_beta_binomial(counts)
    shrunken = dict(zip(courses, ps.shrink_all(counts, prior)))
    limits = dict(zip(courses, ps.funnel_limits_at(pooled, [n for _x, n in counts])))
    by_definition = {row["definition_id"]: row for row in rows if row["definition_id"] in courses}
    assert set(by_definition) == set(courses)
    errors = []
    for definition_id, row in by_definition.items():
        _run, x, n = courses[definition_id]
        assert (row["Activated"], row["Ended windows"]) == (x, n)
        # Exact (to the last bits of a double): sums, ratios and the method of moments.
        assert row["portfolio_rate"] == pytest.approx(pooled, rel=1e-12)
        assert row["prior_strength"] == pytest.approx(prior.strength, rel=1e-9)
        assert row["portfolio_rate"] * row["prior_strength"] == pytest.approx(prior.alpha, rel=1e-9)
        assert (1 - row["portfolio_rate"]) * row["prior_strength"] == pytest.approx(prior.beta, rel=1e-9)
        assert row["shrunken_rate"] == pytest.approx(shrunken[definition_id].rate, rel=1e-9)
        assert row["own_weight"] == pytest.approx(shrunken[definition_id].weight, rel=1e-9)
        # Exact: the same binomial quantile, divided by the same count.
        assert (row["funnel_low_998"], row["funnel_low_95"], row["funnel_high_95"], row["funnel_high_998"]) == (
            limits[definition_id].low[0.998], limits[definition_id].low[0.95],
            limits[definition_id].high[0.95], limits[definition_id].high[0.998]), (x, n)
        # Numerical: the beta quantiles.
        error = max(abs(row["shrunken_low"] - shrunken[definition_id].low),
                    abs(row["shrunken_high"] - shrunken[definition_id].high))
        assert error <= shrunken_tolerance(prior.alpha, prior.beta, x, n), (x, n, error)
        errors.append(error)
    return prior, errors


def test_the_chart_gives_the_plugin_s_portfolio_statistics_and_ranks_the_lucky_course_below(warehouse):
    courses = known_portfolio()
    load(warehouse, courses, running={12: "AcmeX+NEW+2026"})
    rows = warehouse.chart()
    prior, _error = assert_plugin_s_figures(rows, courses)
    assert 0 < prior.rho < 1 and prior.strength < sum(n for _run, _x, n in courses.values())

    # Ranked by the shrunken rate: the truly better course first, the 3-of-3 course (first by its raw rate) not.
    raw = sorted(rows, key=lambda row: -(row["rate"] or 0))
    assert raw[0]["definition_id"] == 11
    assert rows[0]["definition_id"] == 9
    assert [row["shrunken_rate"] for row in rows if row["shrunken_rate"] is not None] == sorted(
        (row["shrunken_rate"] for row in rows if row["shrunken_rate"] is not None), reverse=True)
    lucky = next(row for row in rows if row["definition_id"] == 11)
    assert lucky["shrunken_rate"] < rows[0]["shrunken_rate"] and lucky["own_weight"] < 0.25
    # The truly worse course is below the 99.8 % limit, the truly better above it; 3 of 3 is inside.
    worse, better = (next(row for row in rows if row["definition_id"] == number) for number in (10, 9))
    assert worse["rate"] < worse["funnel_low_998"] and better["rate"] > better["funnel_high_998"]
    assert lucky["funnel_low_95"] <= lucky["rate"] <= lucky["funnel_high_95"]

    # A course whose windows are all running has no rate: nothing shrunk, no limits, not in the prior.
    [running] = [row for row in rows if row["definition_id"] == 12]
    assert running["Ended windows"] == 0 and running["Completers"] == 7
    assert {key: running[key] for key in ("shrunken_rate", "shrunken_low", "funnel_high_95", "portfolio_rate")} == {
        "shrunken_rate": None, "shrunken_low": None, "funnel_high_95": None, "portfolio_rate": pooled_of(courses)}
    assert rows[-1]["definition_id"] == 12


def pooled_of(courses):
    return ps.pooled_rate([(x, n) for _run, x, n in courses.values()])


def test_the_prior_is_fitted_on_the_courses_the_filters_and_row_level_security_leave(warehouse):
    """An org chosen, or an instructor's row-level security: the prior of those courses only, as the page's filters."""
    courses = known_portfolio()
    load(warehouse, courses)
    acme = {number: course for number, course in courses.items() if course[0].startswith("AcmeX+")}
    rows = warehouse.chart(native_filters={"org": ["AcmeX"]})
    assert {row["definition_id"] for row in rows} == set(acme)
    assert_plugin_s_figures(rows, acme)
    assert rows[0]["prior_strength"] != pytest.approx(ps.fit_beta_binomial(
        [(x, n) for _run, x, n in courses.values()]).strength)

    # One run of each of two courses: their later runs' counts only.
    later = {1: courses[1], 2: courses[2]}
    later = {number: (run, x - x // 3, n - n // 3) for number, (run, x, n) in later.items()}
    rows = warehouse.chart(instructor_of=[f"course-v1:{run}" for run, _x, _n in later.values()])
    assert_plugin_s_figures(rows, later)
    # An instructor of one course: no portfolio to fit a prior on (portfolio_stats: None), nothing shrunk.
    [alone] = warehouse.chart(instructor_of=["course-v1:AcmeX+LUCKY+2026"])
    assert alone["rate"] == 1 and ps.fit_beta_binomial([(3, 3)]) is None
    assert all(alone[key] is None for key in ("portfolio_rate", "prior_strength", "shrunken_rate", "shrunken_high",
                                              "funnel_low_998", "own_weight"))


@pytest.mark.parametrize("counts, strength", [
    # Courses as alike as chance makes them (ρ ≤ 0): the prior's weight capped at the portfolio's learners.
    ([(30, 100), (31, 100), (29, 100), (60, 200)], 500),
    # All or nothing (ρ capped just below 1): the prior weighs next to nothing, each course keeps its rate.
    ([(0, 40), (50, 50), (0, 60), (30, 30)], pytest.approx(0, abs=1e-6)),
])
def test_the_prior_s_caps_are_the_plugin_s(warehouse, counts, strength):
    courses = {number: (f"AcmeX+K{number}+2026", x, n) for number, (x, n) in enumerate(counts, start=1)}
    load(warehouse, courses)
    rows = warehouse.chart()
    prior, _error = assert_plugin_s_figures(rows, courses)
    assert prior.strength == strength and rows[0]["prior_strength"] == strength


def test_small_courses_in_a_weak_prior_keep_the_interval_s_tolerance(warehouse):
    """Courses that differ widely make a weak prior; a course at 0 % then has a posterior parameter under 1."""
    counts = [(0, 3), (1, 2), (5, 5), (2, 40), (30, 50), (0, 12), (9, 10)]
    courses = {number: (f"AcmeX+S{number}+2026", x, n) for number, (x, n) in enumerate(counts, start=1)}
    load(warehouse, courses)
    prior, errors = assert_plugin_s_figures(warehouse.chart(), courses)
    assert prior.strength < 3 and min(prior.alpha + x for x, _n in counts) < 1
    assert max(errors) > 0  # computed, not copied


def test_no_prior_when_the_portfolio_s_rate_is_zero(warehouse):
    courses = {1: ("AcmeX+A+2026", 0, 40), 2: ("AcmeX+B+2026", 0, 12)}
    load(warehouse, courses)
    rows = warehouse.chart()
    assert ps.fit_beta_binomial([(0, 40), (0, 12)]) is None
    assert [row["rate"] for row in rows] == [0, 0]
    assert all(row[key] is None for row in rows for key in ("portfolio_rate", "shrunken_rate", "funnel_high_998"))


@pytest.mark.parametrize("n", [1, 7, 60, 2500, 40000])
@pytest.mark.parametrize("x_share", [0.004, 0.3, 0.9])
def test_the_funnel_limits_are_exact_binomial_quantiles_at_any_size(warehouse, n, x_share):
    """Against portfolio_stats.funnel_limit (scipy's binom.ppf), from 1 learner to 40,000, rare rates to common."""
    other = 1000
    courses = {1: ("AcmeX+A+2026", round(n * x_share), n), 2: ("AcmeX+B+2026", round(other * x_share) + 1, other)}
    if courses[1][1] + courses[2][1] in (0, n + other):
        pytest.skip("no prior, so no limits")
    load(warehouse, courses)
    assert_plugin_s_figures(warehouse.chart(), courses)


def test_the_shrunken_interval_s_tolerance_is_what_the_chart_and_its_columns_say():
    """The chart and the columns say the interval is numerical, and within what; the tests above hold it to that."""
    assets = superset_assets()
    [chart] = [asset for asset in assets if asset.get("slice_name") == CHART]
    [rates] = [asset for asset in assets if asset.get("table_name") == "activation_rates"]
    described = {metric["metric_name"]: metric for metric in rates["metrics"]}
    assert f"within {SHRUNKEN_TOLERANCE} of the exact one" in chart["description"]
    for bound in ("shrunken_low", "shrunken_high"):
        assert f"±{SHRUNKEN_TOLERANCE}" in described[bound]["verbose_name"]
        assert f"within {SHRUNKEN_TOLERANCE} of the exact beta quantile" in described[bound]["description"]
    assert f"within {SHRUNKEN_TOLERANCE_FROM_1} when" in described["shrunken_low"]["description"]
