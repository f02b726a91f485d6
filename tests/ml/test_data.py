"""Training reads a fixed customer sample when the marts are larger than the cap: the same at every cutoff."""

from pathlib import Path

import duckdb

from ml.data import load_training_frame, training_sample_share


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
