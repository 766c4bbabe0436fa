"""Properties of small-cell suppression on random breakdowns (no database: base.suppress_rows is pure)."""
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from activation_plugin.figures.base import rate_row, suppress_rows

groups = st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30)), max_size=8)


def rows_of(counts):
    return [{"value": index, **rate_row(activated + expired + still_open, activated, still_open)}
            for index, (activated, expired, still_open) in enumerate(counts)]


@pytest.fixture(autouse=True)
def cell_size(settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 5


@hypothesis_settings(max_examples=300)
@given(groups)
def test_no_small_group_shows_and_no_hidden_group_can_be_subtracted_out(counts):
    original = rows_of(counts)
    rows = suppress_rows(rows_of(counts))
    for before, after in zip(original, rows, strict=True):
        if after["suppressed"]:
            assert after["completers"] is after["rate"] is after["rate_ci"] is None
        else:
            assert after == {**before, "suppressed": False}
            assert before["completers"] == 0 or before["eligible"] >= 5
    non_empty_hidden = [row for row, before in zip(rows, original) if row["suppressed"] and before["completers"]]
    non_empty = [before for before in original if before["completers"]]
    assert len(non_empty_hidden) != 1 or len(non_empty) == 1


def test_the_next_smallest_group_is_the_one_hidden_with_a_small_one():
    rows = suppress_rows(rows_of([(10, 10, 0), (3, 4, 0), (1, 1, 0), (20, 20, 0)]))
    assert [row["suppressed"] for row in rows] == [False, True, True, False]
