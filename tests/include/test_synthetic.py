"""The synthetic shop: deterministic, shaped like the raw contract, consistent, and carrying signal."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from include.raw_schema import RAW_TABLES, column_names
from include.synthetic import generate_shop, main, write_shop

START, END = date(2023, 1, 1), date(2025, 12, 31)
WINDOW_END = pd.Timestamp("2026-01-01")  # the window ends at the end of END's day
DTYPES = {"VARCHAR": "str", "TIMESTAMP": "datetime64[us]", "DOUBLE": "float64", "INTEGER": "int32"}


@pytest.fixture(scope="module")
def shop() -> dict[str, pd.DataFrame]:
    """Return a 3,000-customer shop over the default window."""
    return generate_shop(3000, seed=7, start=START, end=END)


def test_same_seed_gives_identical_frames_and_another_seed_differs() -> None:
    first, again, other = generate_shop(300, seed=1), generate_shop(300, seed=1), generate_shop(300, seed=2)
    for table in first:
        pd.testing.assert_frame_equal(first[table], again[table])
    assert not first["customers"]["signed_up_at"].equals(other["customers"]["signed_up_at"])
    keys = ["customer_id", "ordered_at"]
    assert not first["orders"][keys].equals(other["orders"][keys])


@pytest.mark.parametrize("customers", [1, 17, 3000])
def test_customer_count_is_exactly_the_request(customers: int) -> None:
    frames = generate_shop(customers, seed=3)
    assert len(frames["customers"]) == customers
    assert len(frames["ground_truth"]) == customers
    assert frames["customers"]["customer_id"].is_unique


def test_tables_have_the_contract_columns_and_types(shop: dict[str, pd.DataFrame]) -> None:
    for table, columns in RAW_TABLES.items():
        frame = shop[table]
        assert list(frame.columns) == column_names(table)
        expected = {c.name: DTYPES[c.sql_type] for c in columns}
        assert {c.name: str(frame[c.name].dtype) for c in columns} == expected
    assert shop["customers"]["customer_id"].str.fullmatch(r"C\d{7}").all()
    assert shop["products"]["product_id"].str.fullmatch(r"P\d{4}").all()
    assert shop["orders"]["order_id"].str.fullmatch(r"O\d{9}").all()
    assert list(shop["ground_truth"].columns) == [
        "customer_id",
        "purchase_rate_per_year",
        "dropout_rate_per_year",
        "mean_order_value",
        "died_at",
        "is_alive_at_end",
        "browse_rate_per_year",
        "favourite_category",
    ]


def test_keys_are_unique_and_references_resolve(shop: dict[str, pd.DataFrame]) -> None:
    customers, products = set(shop["customers"]["customer_id"]), set(shop["products"]["product_id"])
    orders, items, events = shop["orders"], shop["order_items"], shop["events"]
    assert orders["order_id"].is_unique and events["event_id"].is_unique
    assert set(orders["customer_id"]) <= customers
    assert set(items["order_id"]) == set(orders["order_id"])  # every order has lines, every line an order
    assert set(items["product_id"]) <= products
    assert set(events["customer_id"].dropna()) <= customers
    assert set(events["product_id"].dropna()) <= products
    assert not items.duplicated(["order_id", "line_number"]).any()
    lines = items.groupby("order_id")["line_number"].agg(["min", "max", "size"])
    assert (lines["min"] == 1).all() and (lines["max"] == lines["size"]).all()


def test_order_ids_follow_order_time(shop: dict[str, pd.DataFrame]) -> None:
    orders = shop["orders"]
    assert orders["ordered_at"].is_monotonic_increasing
    assert orders["order_id"].is_monotonic_increasing


def test_nothing_after_the_window_and_nothing_before_signup(shop: dict[str, pd.DataFrame]) -> None:
    signup = shop["customers"].set_index("customer_id")["signed_up_at"]
    orders, events = shop["orders"], shop["events"]
    assert orders["ordered_at"].max() < WINDOW_END and events["event_at"].max() < WINDOW_END
    assert events["event_at"].min() >= pd.Timestamp(START)
    assert (orders["ordered_at"] >= orders["customer_id"].map(signup)).all()
    known = events.dropna(subset=["customer_id"])
    assert (known["event_at"] >= known["customer_id"].map(signup)).all()
    assert signup.max() <= WINDOW_END - pd.Timedelta(days=30)


def test_dead_customers_place_no_orders_after_death(shop: dict[str, pd.DataFrame]) -> None:
    truth = shop["ground_truth"].set_index("customer_id")
    orders = shop["orders"]
    died = orders["customer_id"].map(truth["died_at"])
    assert (truth["died_at"] < WINDOW_END).sum() > 1000  # plenty of customers died within the window
    assert (orders["ordered_at"] <= died).all()
    assert (truth["is_alive_at_end"] == (truth["died_at"] >= WINDOW_END)).all()


def test_every_order_has_one_purchase_event_at_its_time(shop: dict[str, pd.DataFrame]) -> None:
    purchases = shop["events"].query("event_type == 'purchase'")
    assert purchases["session_id"].is_unique
    expected = shop["orders"][["customer_id", "ordered_at"]].sort_values(["ordered_at", "customer_id"])
    actual = purchases[["customer_id", "event_at"]].sort_values(["event_at", "customer_id"])
    assert expected.to_numpy().tolist() == actual.to_numpy().tolist()


def test_events_are_in_time_order_within_sessions(shop: dict[str, pd.DataFrame]) -> None:
    events = shop["events"]
    assert events["event_id"].is_monotonic_increasing
    assert (events.groupby("session_id")["event_at"].diff().dropna() >= pd.Timedelta(0)).all()
    anonymous = events.groupby("session_id")["customer_id"].first().isna().mean()
    assert 0.12 < anonymous < 0.22


def test_order_amount_is_lines_minus_discount(shop: dict[str, pd.DataFrame]) -> None:
    items = shop["order_items"].assign(gross=lambda f: f["quantity"] * f["unit_price"])
    sums = items.groupby("order_id")[["gross", "discount_amount"]].sum()
    orders = shop["orders"].set_index("order_id").loc[sums.index]
    np.testing.assert_allclose(orders["discount_amount"], sums["discount_amount"], atol=0.01)
    np.testing.assert_allclose(orders["amount"], sums["gross"] - orders["discount_amount"], atol=0.01)
    assert (items["returned_quantity"] <= items["quantity"]).all() and (items["quantity"] >= 1).all()
    assert 0.10 < (orders["discount_amount"] > 0).mean() < 0.20


def _browse_sessions_between(shop: dict[str, pd.DataFrame], lo: pd.Series, hi: pd.Series) -> float:
    """Return the mean number of browse-only sessions per customer starting in (lo, hi] of each customer."""
    events = shop["events"].dropna(subset=["customer_id"])
    events = events.assign(purchase=events["event_type"] == "purchase")
    sessions = events.groupby("session_id").agg(
        customer_id=("customer_id", "first"), started_at=("event_at", "min"), purchased=("purchase", "any")
    )
    browse = sessions[~sessions["purchased"]]
    inside = (browse["started_at"] > browse["customer_id"].map(lo)) & (
        browse["started_at"] <= browse["customer_id"].map(hi)
    )
    return inside.sum() / len(lo)


def test_browsing_thins_out_before_death(shop: dict[str, pd.DataFrame]) -> None:
    truth = shop["ground_truth"].set_index("customer_id")
    signup = shop["customers"].set_index("customer_id")["signed_up_at"]
    died = truth["died_at"]
    mid_window = died[(died < WINDOW_END) & (died - pd.Timedelta(days=430) > signup)]
    assert len(mid_window) > 200
    last = _browse_sessions_between(shop, mid_window - pd.Timedelta(days=60), mid_window)
    year_before = _browse_sessions_between(
        shop, mid_window - pd.Timedelta(days=425), mid_window - pd.Timedelta(days=365)
    )
    assert year_before > 0.5
    print(f"browse sessions per customer: {year_before:.2f} a year before death, {last:.2f} just before")
    assert last / year_before < 0.7  # without the lapse signal the ratio would be about 1


def test_write_shop_writes_one_parquet_per_table(tmp_path) -> None:
    counts = write_shop(tmp_path / "landing", customers=50, seed=5)
    files = sorted(p.name for p in (tmp_path / "landing").iterdir())
    assert files == sorted(f"{table}.parquet" for table in counts)
    for table, rows in counts.items():
        frame = pd.read_parquet(tmp_path / "landing" / f"{table}.parquet")
        assert len(frame) == rows
    assert counts["customers"] == 50


def test_a_bad_seed_or_landing_folder_stops_cvw_generate_in_one_sentence(tmp_path, capsys) -> None:
    # numpy refused --seed -1 with "expected non-negative integer", naming neither; a landing folder that
    # could not be made (a path through a file, no permission) was a NotADirectoryError's traceback
    with pytest.raises(SystemExit) as refused:
        main(["--customers", "5", "--seed", "-1", "--out", str(tmp_path)])
    assert refused.value.code == 2
    refusal = "argument --seed: '-1' is not a seed: give a whole number of at least 0."
    assert refusal in capsys.readouterr().err
    (tmp_path / "a_file").write_text("")
    with pytest.raises(SystemExit) as refused:
        main(["--customers", "5", "--out", str(tmp_path / "a_file" / "landing")])
    # the reason names the file in the way, as the warehouse's refusal does (include.folders), not the
    # system's "Not a directory" of the path asked for
    assert str(refused.value) == (
        f"Cannot write the shop into {tmp_path / 'a_file' / 'landing'}: {tmp_path / 'a_file'} is a file, "
        "not a folder; give --out (or CVW_LANDING_DIR) a folder you can write."
    )
    with pytest.raises(SystemExit) as refused:
        main(["--customers", "5", "--out", str(tmp_path / "a_file")])
    assert str(refused.value) == (
        f"Cannot write the shop into {tmp_path / 'a_file'}: {tmp_path / 'a_file'} is a file, not a folder; "
        "give --out (or CVW_LANDING_DIR) a folder you can write."
    )
    assert list(tmp_path.iterdir()) == [tmp_path / "a_file"]


def test_cvw_generate_refuses_an_end_that_is_not_in_the_past(tmp_path) -> None:
    # `cvw generate --end 2028-01-01` wrote a shop whose later orders, sign-ups and events cvw ingest then
    # rejected as in the future (three rows in four of a two-year window from 2026), without a word before
    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC).date()
    with pytest.raises(SystemExit) as refused:
        main(["--customers", "5", "--start", "2024-01-01", "--end", str(today), "--out", str(tmp_path / "l")])
    assert str(refused.value) == (
        f"--end {today} is not in the past: cvw ingest rejects rows timed in the future, so the shop's "
        f"last days would not load. Give an end up to {today - timedelta(days=1)} (yesterday, UTC)."
    )
    assert not (tmp_path / "l").exists()
