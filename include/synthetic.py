"""A deterministic synthetic shop whose customers follow a known buy-till-you-die story.

Each customer buys at a Gamma-distributed rate while alive (Pareto/NBD), dies after an Exponential
lifetime with a Gamma-distributed dropout rate, and spends around a Gamma-distributed order value
(Gamma-Gamma). Browsing thins out over the weeks before death, so events carry a lapse signal. The shop's
world (its lookup tables, catalogue and each customer's hidden rates) is include.synthetic_world; this module
draws the orders and lines from it, the sessions and events with include.synthetic_browsing, and writes the
raw tables.
`python -m include.synthetic --customers 5000 --out data/landing` writes one Parquet file per table.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from include import synthetic_browsing as browsing
from include.folders import why_not_made
from include.raw_schema import column_names
from include.settings import get_settings
from include.synthetic_browsing import DAY_US
from include.synthetic_world import (
    AGE_BANDS,
    CATEGORIES,
    CHANNELS,
    COUNTRIES,
    SEASON,
    column,
    latent_customers,
    make_catalogue,
    pick_products,
    poisson_process,
    season,
)

START, END = date(2023, 1, 1), date(2025, 12, 31)
EVENT_TYPES = ("page_view", "product_view", "add_to_cart", "checkout", "purchase")
TABLES = ("customers", "products", "orders", "order_items", "events", "ground_truth")


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Return ids like C0000001: the prefix, then each number zero-padded to `width` digits."""
    text = pa.large_string()  # 64-bit offsets: tens of millions of event ids overflow a plain string array
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, pa.int64()), text), width, "0")
    return pc.binary_join_element_wise(pa.scalar(prefix, text), digits, pa.scalar("", text))


def _take(values: pa.Array | list[str], index: np.ndarray) -> pd.Series:
    """Return values at the positions in `index` as a string series, null where the index is negative."""
    return pc.take(pa.array(values, pa.large_string()), pa.array(index, mask=index < 0)).to_pandas()


def _timestamps(start: date, days: np.ndarray) -> np.ndarray:
    """Return datetime64[us] values for fractional days since the start date."""
    return np.datetime64(start, "us") + np.floor(days * DAY_US).astype("timedelta64[us]")


def _orders(rng: np.random.Generator, c: dict, horizon: float, start: date) -> tuple[np.ndarray, np.ndarray]:
    """Return (customer, day) of every order, sorted by time: a first order, then seasonal Poisson buying."""
    n, alive_until = c["signup"].size, np.minimum(c["death"], horizon)
    first = c["signup"] + 600 / 86_400 + rng.exponential(3.0, n)
    has_first = (rng.random(n) < 0.85) & (first < alive_until)
    owner, day = poisson_process(
        rng, np.where(has_first, first, c["signup"]), alive_until, c["rate"] * SEASON.max()
    )
    keep = rng.random(day.size) * SEASON.max() < season(start, day)
    owner = np.concatenate([np.flatnonzero(has_first), owner[keep]])
    day = np.concatenate([first[has_first], day[keep]])
    order = np.lexsort((owner, day))
    return owner[order], day[order]


def _lines(rng: np.random.Generator, c: dict, buyer: np.ndarray, catalogue: dict) -> dict[str, np.ndarray]:
    """Return order lines and order totals: quantities sized to a Gamma order value, discounts, returns."""
    n_orders = buyer.size
    count = 1 + rng.poisson(1.2, n_orders)
    order = np.repeat(np.arange(n_orders), count)
    first = np.cumsum(count) - count
    product = pick_products(rng, c["favourite"][buyer][order], catalogue)
    value = rng.gamma(3.0, c["spend"][buyer] / 3.0)
    share = rng.exponential(1.0, order.size)
    share /= np.bincount(order, share, n_orders)[order]
    price = catalogue["price"][product]
    marked_down = np.round(price * rng.uniform(0.7, 0.9, order.size), 2)
    price = np.where(rng.random(order.size) < 0.07, marked_down, price)
    quantity = np.clip(np.rint(value[order] * share / price), 1, 20).astype(np.int32)
    gross = np.round(quantity * price, 2)
    discount_rate = np.where(rng.random(n_orders) < 0.15, rng.uniform(0.05, 0.20, n_orders), 0.0)
    line_discount = np.round(gross * discount_rate[order], 2)
    discount = np.round(np.bincount(order, line_discount, n_orders), 2)
    cancelled = rng.random(n_orders) < 0.03
    returned = np.where(
        (rng.random(order.size) < 0.06) & ~cancelled[order],
        1 + np.floor(rng.random(order.size) * quantity),
        0,
    ).astype(np.int32)
    return {
        "order": order,
        "line_number": (np.arange(order.size) - first[order] + 1).astype(np.int32),
        "first": first,
        "count": count,
        "product": product,
        "quantity": quantity,
        "price": price,
        "line_discount": line_discount,
        "returned": returned,
        "discount": discount,
        "cancelled": cancelled,
        "amount": np.round(np.bincount(order, gross, n_orders) - discount, 2),
        "app": rng.random(n_orders) < c["app_share"][buyer],
    }


def _check(customers: int, start: date, end: date) -> float:
    """Return the window length in days, or raise ValueError for an impossible request."""
    if customers < 1:
        raise ValueError(f"customers must be at least 1, not {customers}.")
    if (end - start).days < 90:
        raise ValueError(f"The window {start} to {end} is too short: make end at least 90 days after start.")
    return float((end - start).days + 1)


def generate_shop(
    customers: int, seed: int = 42, start: date = START, end: date = END
) -> dict[str, pd.DataFrame]:
    """Return a synthetic shop's raw tables plus `ground_truth`; the same arguments give the same frames."""
    horizon = _check(customers, start, end)
    rng = np.random.default_rng(seed)
    c = latent_customers(rng, customers, horizon)
    catalogue = make_catalogue(rng, customers)
    buyer, order_day = _orders(rng, c, horizon, start)
    lines = _lines(rng, c, buyer, catalogue)
    session_customer, session_day, session_order = browsing.sessions(rng, c, buyer, order_day, horizon, start)
    events = browsing.events(rng, c, session_customer, session_day, session_order, lines, catalogue, horizon)
    customer_ids = _ids("C", np.arange(1, customers + 1), 7)
    product_ids = _ids("P", np.arange(1, catalogue["price"].size + 1), 4)
    order_ids = _ids("O", np.arange(1, buyer.size + 1), 9)
    categories = list(CATEGORIES)
    frames = {
        "customers": pd.DataFrame(
            {
                "customer_id": customer_ids.to_pandas(),
                "signed_up_at": _timestamps(start, c["signup"]),
                "country": _take(list(COUNTRIES), c["country"]),
                "region": _take(list(column(COUNTRIES, 0)), c["country"]),
                "acquisition_channel": _take(list(CHANNELS), c["channel"]),
                "age_band": _take(list(AGE_BANDS), c["age"]),
            }
        ),
        "products": pd.DataFrame(
            {
                "product_id": product_ids.to_pandas(),
                "product_name": pd.Series(catalogue["name"], dtype="str"),
                "category": _take(categories, catalogue["category"]),
                "list_price": catalogue["price"],
                "unit_cost": catalogue["cost"],
            }
        ),
        "orders": pd.DataFrame(
            {
                "order_id": order_ids.to_pandas(),
                "customer_id": _take(customer_ids, buyer),
                "ordered_at": _timestamps(start, order_day),
                "amount": lines["amount"],
                "status": _take(["completed", "cancelled"], lines["cancelled"].astype(np.int64)),
                "discount_amount": lines["discount"],
                "sales_channel": _take(["web", "app"], lines["app"].astype(np.int64)),
            }
        ),
        "order_items": pd.DataFrame(
            {
                "order_id": _take(order_ids, lines["order"]),
                "line_number": lines["line_number"],
                "product_id": _take(product_ids, lines["product"]),
                "quantity": lines["quantity"],
                "unit_price": lines["price"],
                "discount_amount": lines["line_discount"],
                "returned_quantity": lines["returned"],
            }
        ),
        "events": pd.DataFrame(
            {
                "event_id": _ids("E", np.arange(1, events["kind"].size + 1), 10).to_pandas(),
                "session_id": _ids("S", events["session"] + 1, 9).to_pandas(),
                "customer_id": _take(customer_ids, events["customer"]),
                "event_type": _take(list(EVENT_TYPES), events["kind"]),
                "event_at": np.datetime64(start, "us") + events["at_us"].astype("timedelta64[us]"),
                "product_id": _take(product_ids, events["product"]),
            }
        ),
        "ground_truth": pd.DataFrame(
            {
                "customer_id": customer_ids.to_pandas(),
                "purchase_rate_per_year": c["rate"] * 365,
                "dropout_rate_per_year": c["dropout"] * 365,
                "mean_order_value": c["spend"],
                "died_at": _timestamps(start, c["death"]),
                "is_alive_at_end": c["death"] >= horizon,
                "browse_rate_per_year": c["browse"] * 365,
                "favourite_category": _take(categories, c["favourite"]),
            }
        ),
    }
    for table, frame in frames.items():
        assert table == "ground_truth" or list(frame.columns) == column_names(table), table
    return frames


def write_shop(
    out_dir: Path, customers: int, seed: int, start: date = START, end: date = END
) -> dict[str, int]:
    """Write one Parquet file per table of a generated shop into out_dir; return the rows per table."""
    frames = generate_shop(customers, seed, start, end)
    out_dir.mkdir(parents=True, exist_ok=True)
    for table in TABLES:
        partial = out_dir / f".{table}.parquet.partial"
        frames[table].to_parquet(partial, index=False)
        os.replace(partial, out_dir / f"{table}.parquet")  # readers never see a half-written file
    return {table: len(frames[table]) for table in TABLES}


def _date(value: str) -> date:
    """Return the ISO date in a command-line argument, or stop with one sentence."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date: write it as YYYY-MM-DD.") from None


def _seed(value: str) -> int:
    """Return the seed in a command-line argument, a whole number of at least 0, or stop with one sentence."""
    try:
        seed = int(value)
    except ValueError:
        seed = -1
    if seed < 0:  # numpy's own refusal of a negative one named neither the option nor the fix
        raise argparse.ArgumentTypeError(f"{value!r} is not a seed: give a whole number of at least 0.")
    return seed


def main(argv: list[str] | None = None) -> int:
    """Generate a synthetic shop into the landing directory from the command line; return the exit code."""
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="cvw generate", description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=settings.synthetic_customers)
    parser.add_argument("--seed", type=_seed, default=settings.seed)
    parser.add_argument("--out", type=Path, default=settings.landing_dir)
    parser.add_argument("--start", type=_date, default=START)
    parser.add_argument("--end", type=_date, default=END)
    args = parser.parse_args(argv)
    today = datetime.now(UTC).date()
    if args.end >= today:  # its last day's rows would be timed after the load, later ones all the more
        raise SystemExit(
            f"--end {args.end} is not in the past: cvw ingest rejects rows timed in the future, so the "
            f"shop's last days would not load. Give an end up to {today - timedelta(days=1)} (yesterday, "
            "UTC)."
        )
    try:
        counts = write_shop(args.out, args.customers, args.seed, args.start, args.end)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    except OSError as error:  # a folder it cannot make or write: a path through a file, no permission
        raise SystemExit(
            f"Cannot write the shop into {args.out}: {why_not_made(args.out, error)}; give --out (or "
            "CVW_LANDING_DIR) a folder you can write."
        ) from None
    for table, rows in counts.items():
        print(f"{table:<13} {rows:>12,} rows -> {args.out / (table + '.parquet')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
