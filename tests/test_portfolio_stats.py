"""The portfolio's statistics (activation_plugin.portfolio_stats) against scipy and hand-worked cases."""
import numpy as np
import pytest
from scipy import optimize
from scipy import stats as sps

from activation_plugin import portfolio_stats as ps


@pytest.mark.parametrize("n", [3, 5, 12, 30, 101, 400, 2500])
@pytest.mark.parametrize("p", [0.08, 0.35, 0.6])
def test_funnel_limits_are_the_exact_binomial_quantiles(n, p):
    limits = ps.funnel_limits(p, n)
    for level in ps.FUNNEL_LEVELS:
        tail = (1 - level) / 2
        assert limits.low[level] == sps.binom.ppf(tail, n, p) / n
        assert limits.high[level] == sps.binom.ppf(1 - tail, n, p) / n
    assert limits.low[0.998] <= limits.low[0.95] <= p <= limits.high[0.95] <= limits.high[0.998]


@pytest.mark.parametrize("n, p", [(3, 0.3), (20, 0.3), (150, 0.1), (600, 0.45)])
def test_beyond_a_limit_means_a_count_that_improbable(n, p):
    """Above the upper limit of level L exactly when P(X ≥ x) ≤ (1 − L)/2 (scipy's survival function)."""
    limits = ps.funnel_limits(p, n)
    for x in range(n + 1):
        position = ps.funnel_position(x, n, limits)
        upper = sps.binom.sf(x - 1, n, p)
        lower = sps.binom.cdf(x, n, p)
        assert (position == "high") == (upper <= 0.001 + 1e-12 and x / n > limits.high[0.998])
        assert (position in ("high", "above")) == (x / n > limits.high[0.95])
        assert (position in ("low", "below")) == (x / n < limits.low[0.95])
        if position in ("high", "above"):
            assert upper <= 0.025 + 1e-12
        if position in ("low", "below"):
            assert lower < 0.025


def test_funnel_limits_narrow_as_courses_grow():
    widths = [ps.funnel_limits(0.3, n).high[0.95] - ps.funnel_limits(0.3, n).low[0.95] for n in (10, 40, 160, 640)]
    assert widths == sorted(widths, reverse=True)
    # Roughly the normal approximation's 2 × 1.96 √(p(1−p)/n) once n is large.
    assert widths[-1] == pytest.approx(2 * 1.96 * (0.3 * 0.7 / 640) ** 0.5, rel=0.05)


def test_a_funnel_limit_needs_learners():
    with pytest.raises(ValueError):
        ps.funnel_limit(0.5, 0, 0.3)


def test_funnel_position_says_how_far_out():
    limits = ps.funnel_limits(0.3, 200)
    assert ps.funnel_position(60, 200, limits) == "inside"
    assert ps.funnel_position(round(limits.high[0.998] * 200) + 2, 200, limits) == "high"
    assert ps.funnel_position(round(limits.low[0.998] * 200) - 2, 200, limits) == "low"
    between = next(x for x in range(200) if limits.high[0.95] < x / 200 <= limits.high[0.998])
    assert ps.funnel_position(between, 200, limits) == "above"
    # 3 of 3 is far above 30 %, yet inside: three learners say little.
    assert ps.funnel_position(3, 3, ps.funnel_limits(0.3, 3)) == "inside"


def test_the_prior_by_hand():
    """
    2/10, 5/10, 8/10: p = 0.5, N = 30, S = 10(0.09 + 0 + 0.09) = 1.8, S/p(1−p) = 7.2, k − 1 = 2,
    N − Σn²/N − (k − 1) = 30 − 10 − 2 = 18, so ρ = 5.2/18 = 13/45 and α + β = (32/45)/(13/45) = 32/13.
    """
    prior = ps.fit_beta_binomial([(2, 10), (5, 10), (8, 10)])
    assert prior.rho == pytest.approx(13 / 45)
    assert prior.alpha == pytest.approx(16 / 13) and prior.beta == pytest.approx(16 / 13)
    assert prior.mean == pytest.approx(0.5) and prior.strength == pytest.approx(32 / 13)


def test_the_prior_recovers_a_beta_binomial_portfolio():
    """Many courses drawn from scipy's beta-binomial with Beta(4, 12): the fit finds mean 1/4 and strength 16."""
    generator = np.random.default_rng(7)
    sizes = generator.integers(10, 200, size=3000)
    counts = [(int(sps.betabinom.rvs(n, 4, 12, random_state=generator)), int(n)) for n in sizes]
    prior = ps.fit_beta_binomial(counts)
    assert prior.mean == pytest.approx(0.25, abs=0.01)
    assert prior.strength == pytest.approx(16, rel=0.12)
    # And it agrees with the maximum-likelihood fit (scipy.optimize over scipy's beta-binomial pmf).
    xs, ns = np.array([x for x, _n in counts]), np.array([n for _x, n in counts])

    def negative_log_likelihood(log_params):
        a, b = np.exp(log_params)
        return -sps.betabinom.logpmf(xs, ns, a, b).sum()

    a, b = np.exp(optimize.minimize(negative_log_likelihood, [0.0, 1.0], method="Nelder-Mead").x)
    assert prior.mean == pytest.approx(a / (a + b), abs=0.005)
    assert prior.strength == pytest.approx(a + b, rel=0.12)


def test_courses_no_more_different_than_chance_lend_each_course_the_whole_portfolio():
    prior = ps.fit_beta_binomial([(10, 40), (10, 40), (10, 40), (11, 40)])
    assert prior.rho == 0.0
    assert prior.strength == 160
    assert prior.mean == pytest.approx(41 / 160)


@pytest.mark.parametrize("counts", [[], [(3, 10)], [(0, 10), (0, 5)], [(10, 10), (4, 4)], [(3, 10), (0, 0)]])
def test_no_prior_without_two_courses_or_without_spread(counts):
    assert ps.fit_beta_binomial(counts) is None


def test_shrink_is_the_beta_posterior():
    prior = ps.BetaPrior(alpha=3.0, beta=9.0, rho=1 / 13)
    result = ps.shrink(7, 20, prior)
    posterior = sps.beta(3 + 7, 9 + 13)
    assert result.rate == pytest.approx(posterior.mean())
    assert (result.low, result.high) == pytest.approx(posterior.ppf([0.025, 0.975]), abs=1e-9)
    assert result.weight == pytest.approx(20 / 32)


def simulated_portfolio():
    """
    Twelve courses with known true rates (seeded draws): most near 30 %, one truly better (55 %),
    one truly worse (12 %), and three small ones, one of which happens to go 3 of 3.
    """
    generator = np.random.default_rng(2026)
    truth = {"A": (0.30, 400), "B": (0.28, 250), "C": (0.33, 180), "D": (0.31, 120), "E": (0.27, 300),
             "F": (0.29, 90), "BETTER": (0.55, 220), "WORSE": (0.12, 260), "G": (0.32, 60),
             "SMALL1": (0.30, 6), "SMALL2": (0.30, 8)}
    counts = {name: (int(generator.binomial(n, p)), n) for name, (p, n) in truth.items()}
    counts["LUCKY"] = (3, 3)
    return counts


def test_on_a_simulated_portfolio_shrinkage_reorders_and_the_funnel_flags_the_true_outliers():
    counts = simulated_portfolio()
    names = list(counts)
    prior = ps.fit_beta_binomial(counts.values())
    raw = ps.ranks([x / n for x, n in counts.values()])
    shrunken = [ps.shrink(x, n, prior) for x, n in counts.values()]
    by_shrinkage = ps.ranks([s.rate for s in shrunken])
    assert raw[names.index("LUCKY")] == 1
    assert by_shrinkage[names.index("LUCKY")] != 1
    assert by_shrinkage[names.index("BETTER")] == 1
    assert by_shrinkage[names.index("WORSE")] == len(names)
    assert raw != by_shrinkage
    # Each shrunken estimate is scipy's posterior under the fitted prior.
    for (x, n), result in zip(counts.values(), shrunken):
        posterior = sps.beta(prior.alpha + x, prior.beta + n - x)
        assert result.rate == pytest.approx(posterior.mean())
        assert (result.low, result.high) == pytest.approx(posterior.ppf([0.025, 0.975]), abs=1e-8)
    pooled = ps.pooled_rate(counts.values())
    positions = {name: ps.funnel_position(x, n, ps.funnel_limits(pooled, n)) for name, (x, n) in counts.items()}
    assert positions["BETTER"] == "high" and positions["WORSE"] == "low"
    assert positions["LUCKY"] == "inside" and positions["SMALL1"] == "inside"


def test_ranks_share_ties_and_skip_the_unranked():
    assert ps.ranks([0.2, None, 0.5, 0.2]) == [2, None, 1, 2]
