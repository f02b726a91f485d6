"""Training reads a fixed customer sample when the marts are larger than the cap: the same at every cutoff."""

from pathlib import Path

import duckdb
import pandas as pd

from ml.data import load_training_frame, rounded, training_sample_share


def test_the_training_sample_is_the_same_customers_at_every_cutoff(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        everyone = load_training_frame(con, 90)
        customers = everyone["customer_id"].nunique()
        assert training_sample_share(con, None) == 1.0
        assert training_sample_share(con, customers) == 1.0
        share = training_sample_share(con, customers // 4)
        assert share == (customers // 4) / customers
        sample = load_training_frame(con, 90, share)
    per_cutoff = sample.groupby("cutoff_date")["customer_id"].apply(frozenset)
    first = everyone.groupby("cutoff_date")["customer_id"].apply(frozenset)
    # customers enter as they place their first order, so a later cutoff holds the earlier sample and more
    assert all(per_cutoff[c] == first[c] & set(sample["customer_id"]) for c in per_cutoff.index)
    assert 0.15 < sample["customer_id"].nunique() / customers < 0.35
    assert set(sample["customer_id"]) <= set(everyone["customer_id"])


def test_sums_that_differ_in_their_last_bits_between_rebuilds_are_read_as_the_same_numbers() -> None:
    # 0.1 + 0.2 + 0.3 in two orders, as a parallel sum may add them: 0.6000000000000001 and 0.6
    first = pd.DataFrame({"revenue_lifetime": [(0.1 + 0.2) + 0.3, 1234.56789], "orders_lifetime": [3, 7]})
    second = pd.DataFrame({"revenue_lifetime": [0.1 + (0.2 + 0.3), 1234.56789], "orders_lifetime": [3, 7]})
    assert first["revenue_lifetime"][0] != second["revenue_lifetime"][0]
    pd.testing.assert_frame_equal(rounded(first), rounded(second))
    assert rounded(first)["revenue_lifetime"].tolist() == [0.6, 1234.5679]
    assert rounded(first)["orders_lifetime"].tolist() == [3, 7]  # integers untouched
