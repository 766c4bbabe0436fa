"""
Issue 27, the portfolio's evidence-strength filter against its unfiltered view (ADR 0016, "The
portfolio"): for an org lead, who sees no learner row by row, the view filtered by a strength hides
a course whose activations backed by that strength are few; the unfiltered view's strength mix,
and the filtered view's pooled sum minus its shown rows, must not give that count back.
"""
import pytest

from activation_plugin import api
from activation_plugin.platform import ORG_GROUP_PREFIX
from tests.conftest import NOW
from tests.figures_data import add_evidence
from tests.test_portfolio import in_group, make_course, rows_by_course

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def cell_size(settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 5


@pytest.fixture
def courses(make_definition):
    """ONE 10 of 20 (3 backed by staff evidence), TWO 12 of 30 (6), THREE 15 of 30 (8); the rest self-reported."""
    for run, activated, not_activated, staff in (("course-v1:AcmeX+ONE+2026", 10, 10, 3),
                                                 ("course-v1:AcmeX+TWO+2026", 12, 18, 6),
                                                 ("course-v1:AcmeX+THREE+2026", 15, 15, 8)):
        _definition, windows = make_course(make_definition, run, activated, not_activated)
        add_evidence(windows[:staff], strength="staff")
        add_evidence(windows[staff:], strength="self_report")


def _staff_backed(row):
    """What a row tells of its activations backed by staff evidence: a count, or None."""
    share = (row["strength_mix"] or {}).get("staff")
    return None if share is None or row["activated"] is None else round(share * row["activated"])


def test_the_unfiltered_strength_mix_does_not_give_back_what_the_strength_filter_hides(courses):
    lead = in_group(f"{ORG_GROUP_PREFIX}AcmeX", "acme_lead")
    filtered = api.portfolio(lead, api.PortfolioFilters(strength="staff"), now=NOW)
    rows = rows_by_course(filtered)
    assert rows["AcmeX+ONE"]["suppressed"]  # 3 of 20 backed by staff evidence
    hidden = [course for course, row in rows.items() if row["suppressed"]]
    shown = sum(row["activated"] for row in rows.values() if not row["suppressed"])
    hidden_sum = filtered["pooled"]["activated"] - shown
    unfiltered = rows_by_course(api.portfolio(lead, now=NOW))
    # Directly: ONE's own row, shown unfiltered (10 of 20), would say 0.3 of its 10 activations.
    assert _staff_backed(unfiltered["AcmeX+ONE"]) is None
    # By difference: the filtered pooled sum minus its shown rows is the hidden courses' sum; the
    # unfiltered shares of the other hidden course would leave ONE's 3.
    others = [_staff_backed(unfiltered[course]) for course in hidden if course != "AcmeX+ONE"]
    assert None in others or hidden_sum - sum(others) != 3
