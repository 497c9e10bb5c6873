"""How the SQLite writer splits a batch into multi-row staging statements."""

from hypothesis import given
from hypothesis import strategies as st

from meter_readings.services.batch.sql.base import _statement_sizes


@given(total=st.integers(min_value=0, max_value=50_000), limit=st.integers(1, 5_000))
def test_statements_cover_every_row_within_the_limit(total, limit):
    sizes = list(_statement_sizes(total, limit))

    assert sum(sizes) == total
    assert all(0 < size <= limit for size in sizes)


@given(st.lists(st.integers(min_value=0, max_value=20_000), max_size=50))
def test_any_mix_of_batch_sizes_uses_few_distinct_statements(totals):
    # Each distinct size is a distinct SQL text in the driver's statement cache.
    limit = 1170
    distinct = {size for total in totals for size in _statement_sizes(total, limit)}

    assert len(distinct) <= limit.bit_length() + 1
