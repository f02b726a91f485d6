"""An incremental dbt run after a new load gives the marts of a full refresh and leaves old days alone."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from include.dbt import run_dbt
from include.raw_schema import RAW_TABLES
from include.raw_tables import create_tables, mark_replaced
from include.synthetic import generate_shop

HELD_BACK_FROM = pd.Timestamp("2024-12-24")  # the second load brings 24-28 December
LAST_DAYS_FROM = pd.Timestamp("2024-12-29")  # the third load brings 29-31 December, nothing else
LATE_FROM, LATE_TO = pd.Timestamp("2024-11-05"), pd.Timestamp("2024-11-08")  # days that partly arrive late
# An order of the first load placed in these days is reloaded by the third load 10 days later, across the
# cutoff of 1 December: features and labels at cutoffs between its old and new dates change too.
MOVED_FROM, MOVED_TO = pd.Timestamp("2024-11-22"), pd.Timestamp("2024-11-27")
# And the only order of a customer, placed from this day (after the moved order's new date, so that one
# stays the third load's earliest change), is reloaded by the third load under another customer.
REHOMED_FROM = pd.Timestamp("2024-12-08")
# A product view of the first load on this day is reloaded by the third load a day later, across the cutoff
# of 1 September, in its session (the session keeps other events that day).
MOVED_EVENT_DAY = pd.Timestamp("2024-08-31")
# And an event of the first load in these days, alone in its session that day, is reloaded into a session of
# its own: its former session-day disappears (and its session too, when it had no other day).
RESESSIONED_FROM, RESESSIONED_TO = pd.Timestamp("2024-06-01"), pd.Timestamp("2024-10-01")
# A customer known only by one event of the first load (no profile, no order), which the third load reloads
# under a real customer in a new session: the ghost is left with no data, so a full build has no row for it.
GHOST_CUSTOMER = "C-ghost"
LOADED_AT = (datetime(2024, 12, 24, 6, 0), datetime(2024, 12, 29, 6, 0), datetime(2025, 1, 1, 6, 0))
CHANGED_PRODUCT = "P0001"  # reloaded with a new unit cost
# Canaries: rows of old days no new load touches, planted with values a rebuild would overwrite.
OLD_SESSION_DAYS = "activity_date = date '2024-02-01'"  # checkouts: read by no model of a cutoff
OLD_LINES = f"ordered_at < timestamp '2024-03-01' and product_id <> '{CHANGED_PRODUCT}'"
OLD_CUTOFF = date(2024, 5, 1)  # before every change of the second load: its features are never rebuilt
SESSION_DAYS, PRICED_LINES = "intermediate.int_events_sessionized", "intermediate.int_order_items_priced"
VALUED_ORDERS = "intermediate.int_orders_valued"  # line_count: read by fct_orders, a view of it, alone
FEATURES, ORDERS, CUSTOMERS = "marts.customer_features", "marts.fct_orders", "marts.dim_customers"
# One customer no later load touches: no new order, no line of the changed product, no session with a new day
UNTOUCHED_CUSTOMER = """
    select min(orders.customer_id) from marts.fct_orders as orders
    where
        orders.customer_id not in (select unnest(?))
        and not exists (
            select 1 from intermediate.int_order_items_priced as lines
            where lines.customer_id = orders.customer_id and lines.product_id = ?
        )
"""
# (relation, key columns) of every table compared between the incremental run and the full refresh
RELATIONS = {
    "intermediate.int_events_sessionized": ["session_id", "activity_date", "customer_id"],
    "intermediate.int_order_items_priced": ["order_id", "line_number"],
    "intermediate.int_orders_valued": ["order_id"],
    "intermediate.int_orders_running_totals": ["order_id"],
    "intermediate.int_orders_aggregated_to_cutoffs": ["customer_id", "cutoff_date"],
    "intermediate.int_order_items_aggregated_to_cutoffs": ["customer_id", "cutoff_date"],
    "intermediate.int_customer_active_day_spans": ["customer_id", "activity_date"],
    "intermediate.int_sessions_aggregated_to_cutoffs": ["customer_id", "cutoff_date"],
    "marts.fct_sessions": ["session_id", "customer_id"],
    "marts.fct_orders": ["order_id"],
    "marts.dim_customers": ["customer_id"],
    "marts.customer_features": ["customer_id", "cutoff_date"],
    "marts.customer_labels": ["customer_id", "cutoff_date", "horizon_days"],
    "marts.customer_rfm": ["customer_id"],
}


def split_loads(shop: dict[str, pd.DataFrame]) -> list[dict[str, pd.DataFrame]]:
    """Return three loads: the second has held-back days, a few late rows, a cancellation of an order of the
    first load and a new unit cost for one product; the third has the last three days only."""
    orders, events, customers = shop["orders"], shop["events"], shop["customers"]
    late_orders = orders["ordered_at"].between(LATE_FROM, LATE_TO) & (orders.index % 3 == 0)
    orders_later = (orders["ordered_at"] >= HELD_BACK_FROM) | late_orders
    later_order_ids = set(orders.loc[orders_later, "order_id"])
    lines_later = shop["order_items"]["order_id"].isin(later_order_ids)
    late_events = events["event_at"].between(LATE_FROM, LATE_TO) & (events["session_id"].str[-1] == "7")
    events_later = (events["event_at"] >= HELD_BACK_FROM) | late_events
    customers_later = customers["signed_up_at"] >= HELD_BACK_FROM
    orders_last = orders["ordered_at"] >= LAST_DAYS_FROM
    lines_last = shop["order_items"]["order_id"].isin(set(orders.loc[orders_last, "order_id"]))
    events_last = events["event_at"] >= LAST_DAYS_FROM
    customers_last = customers["signed_up_at"] >= LAST_DAYS_FROM

    completed = ~orders_later & (orders["status"] == "completed") & (orders["ordered_at"] > "2024-06-01")
    cancelled = orders[completed].iloc[[10]].assign(status="cancelled")
    in_moved_days = ~orders_later & (orders["status"] == "completed") & ~orders.index.isin(cancelled.index)
    moved = orders[in_moved_days & orders["ordered_at"].between(MOVED_FROM, MOVED_TO)].iloc[[0]]
    moved = moved.assign(ordered_at=moved["ordered_at"] + pd.Timedelta(days=10))
    # the only order of its customer, reloaded under the customer of the moved order: the former customer
    # has no order left
    only_order = orders.groupby("customer_id")["order_id"].transform("size").eq(1)
    in_rehomed_days = orders["ordered_at"].ge(REHOMED_FROM)
    rehomed = orders[in_moved_days & only_order & in_rehomed_days & ~orders.index.isin(moved.index)].iloc[[0]]
    rehomed = rehomed.assign(customer_id=moved["customer_id"].iloc[0])
    on_moved_day = ~events_later & events["event_at"].dt.normalize().eq(MOVED_EVENT_DAY)
    busy_session = events[on_moved_day].groupby("session_id")["event_id"].transform("size").ge(2)
    counted = events["customer_id"].notna() & events["event_type"].eq("product_view")  # a feature counts it
    moved_event = events[on_moved_day].loc[busy_session & counted].iloc[[0]]
    moved_event = moved_event.assign(event_at=moved_event["event_at"] + pd.Timedelta(days=1))
    first_events = events[~events_later & events["event_at"].between(RESESSIONED_FROM, RESESSIONED_TO)]
    day_events = first_events.groupby(["session_id", first_events["event_at"].dt.normalize()])["event_id"]
    alone = first_events[day_events.transform("size").eq(1) & first_events["customer_id"].notna()]
    resessioned = alone.iloc[[0]].assign(session_id=lambda frame: frame["session_id"] + "-reloaded")
    ghost_event = alone.iloc[[1]].assign(
        event_id=lambda frame: frame["event_id"] + "-ghost",
        session_id=lambda frame: frame["session_id"] + "-ghost",
        customer_id=GHOST_CUSTOMER,
    )
    unghosted = ghost_event.assign(
        customer_id=alone["customer_id"].iloc[1], session_id=lambda frame: frame["session_id"] + "2"
    )
    product = shop["products"][shop["products"]["product_id"] == CHANGED_PRODUCT]
    product = product.assign(unit_cost=product["unit_cost"] * 1.5)
    first = {
        "customers": customers[~customers_later],
        "products": shop["products"],
        "orders": orders[~orders_later],
        "order_items": shop["order_items"][~lines_later],
        "events": pd.concat([events[~events_later], ghost_event]),
    }
    second = {
        "customers": customers[customers_later & ~customers_last],
        "products": product,
        "orders": pd.concat([orders[orders_later & ~orders_last], cancelled]),
        "order_items": shop["order_items"][lines_later & ~lines_last],
        "events": events[events_later & ~events_last],
    }
    third = {
        "customers": customers[customers_last],
        "orders": pd.concat([orders[orders_last], moved, rehomed]),
        "order_items": shop["order_items"][lines_last],
        "events": pd.concat([events[events_last], moved_event, resessioned, unghosted]),
    }
    return [first, second, third]


def shop_loads() -> list[dict[str, pd.DataFrame]]:
    """Return the three loads of a one-year, 1,200-customer generated shop."""
    return split_loads(generate_shop(1200, seed=5, start=date(2024, 1, 1), end=date(2024, 12, 31)))


def append(path: Path, load: dict[str, pd.DataFrame], suffix: str, loaded_at: datetime) -> None:
    """Append one load's frames to the raw tables (made from the contract when missing) and mark the rows
    they replace, as the loader does."""
    with duckdb.connect(str(path)) as con:
        create_tables(con)
        for table, frame in load.items():
            rows = frame.assign(_source_file=f"{table}_{suffix}.parquet", _loaded_at=loaded_at)
            con.register("load_frame", rows)
            names = ", ".join([*(column.name for column in RAW_TABLES[table]), "_source_file", "_loaded_at"])
            con.execute(f"insert into raw.{table} ({names}) select {names} from load_frame")
            con.unregister("load_frame")
            mark_replaced(con, table, loaded_at)


def read(path: Path, relation: str, keys: list[str]) -> pd.DataFrame:
    """Return a relation (named in RELATIONS) sorted by its key, with a fresh index."""
    with duckdb.connect(str(path), read_only=True) as con:
        frame = con.execute(f"select * from {relation} order by {', '.join(keys)}").df()
    return frame.reset_index(drop=True)


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Return (incrementally built, fully refreshed) warehouses over the same raw data."""
    root = tmp_path_factory.mktemp("incremental")
    incremental, full = root / "incremental.duckdb", root / "full.duckdb"
    first, second, third = shop_loads()
    append(incremental, first, "1", LOADED_AT[0])
    run_dbt(["build", "--resource-type", "seed", "--resource-type", "model"], warehouse_path=incremental)
    events = pd.concat([first["events"], second["events"], third["events"]])
    later_sessions = {*second["events"]["session_id"], *third["events"]["session_id"]}
    in_later_sessions = events.loc[events["session_id"].isin(later_sessions), "customer_id"].dropna()
    reloaded = first["orders"]["order_id"].isin(third["orders"]["order_id"])  # their former customers too
    later_orders = [*second["orders"]["customer_id"], *third["orders"]["customer_id"]]
    later_orders += list(first["orders"].loc[reloaded, "customer_id"])
    later_customers = sorted({*later_orders, *in_later_sessions})
    with duckdb.connect(str(incremental)) as con:
        con.execute(f"update {SESSION_DAYS} set checkouts = -1 where {OLD_SESSION_DAYS}")
        con.execute(f"update {PRICED_LINES} set has_unit_cost = not has_unit_cost where {OLD_LINES}")
        untouched = con.execute(UNTOUCHED_CUSTOMER, [later_customers, CHANGED_PRODUCT]).fetchone()[0]
        # columns no other mart reads
        con.execute(f"update {VALUED_ORDERS} set line_count = -1 where customer_id = ?", [untouched])
        con.execute(f"update {CUSTOMERS} set country = 'canary' where customer_id = ?", [untouched])
    append(incremental, second, "2", LOADED_AT[1])
    run_dbt(["build"], warehouse_path=incremental)  # incremental, with every data test
    with duckdb.connect(str(incremental)) as con:
        con.execute(f"update {FEATURES} set days_to_year_end_peak = -1 where cutoff_date = ?", [OLD_CUTOFF])
    append(incremental, third, "3", LOADED_AT[2])
    # its debug log holds every statement the run sent (test_each_spine_model_asks_its_cutoffs_once)
    logged = ["--log-path", str(root / "logs"), "--log-level-file", "debug"]
    run_dbt(["run", *logged], warehouse_path=incremental)
    shutil.copy(incremental, full)
    run_dbt(["run", "--full-refresh"], warehouse_path=full)
    return incremental, full


SPINE_MODELS = [
    "int_orders_aggregated_to_cutoffs",
    "int_order_items_aggregated_to_cutoffs",
    "int_sessions_aggregated_to_cutoffs",
    "customer_features",
    "customer_labels",
]


def test_each_spine_model_asks_its_cutoffs_once(warehouses: tuple[Path, Path]) -> None:
    """The SQL of a model over the spine and its pre-hook (which deletes those cutoffs first) share one
    answer, and the four feature models one earliest changed date: each question reads a table of every
    cutoff, or what was loaded since, and asking it twice was half a spine model's statements."""
    log = (warehouses[0].parent / "logs" / "dbt.log").read_text()
    for model in SPINE_MODELS:
        assert log.count(f"where model_name = '{model}'\n") == 1, model  # its watermark
    assert log.count("select distinct cutoff_date") == len(SPINE_MODELS)  # the cutoffs each table holds
    assert log.count("select min(changed_date) from (") == 2  # the feature models', customer_labels'


def test_the_second_load_brings_new_days_late_rows_and_changes() -> None:
    first, second, third = shop_loads()
    assert second["orders"]["ordered_at"].lt(HELD_BACK_FROM).sum() > 1  # late orders and the cancellation
    assert second["events"]["event_at"].lt(HELD_BACK_FROM).sum() > 10  # late events
    assert len(second["order_items"]) > 100 and len(second["events"]) > 1000
    assert second["orders"]["order_id"].isin(first["orders"]["order_id"]).sum() == 1
    moved, rehomed = third["orders"].loc[
        third["orders"]["order_id"].isin(first["orders"]["order_id"]), "order_id"
    ]
    was = first["orders"].set_index("order_id").loc[moved, "ordered_at"]
    now = third["orders"].set_index("order_id").loc[moved, "ordered_at"]
    former = first["orders"].set_index("order_id").loc[rehomed, "customer_id"]
    assert third["orders"].set_index("order_id").loc[rehomed, "customer_id"] != former
    all_orders = pd.concat([first["orders"], second["orders"]])
    assert all_orders["customer_id"].eq(former).sum() == 1  # its only order
    # moved across 1 December, and the third load's earliest change: nothing else rebuilds that cutoff
    assert was < pd.Timestamp("2024-12-01") < now == third["orders"]["ordered_at"].min()
    reloaded = third["orders"]["order_id"].isin([moved, rehomed])
    assert (reloaded | third["orders"]["ordered_at"].ge(LAST_DAYS_FROM)).all()
    assert "products" not in third and len(third["events"]) > 100
    before = first["events"].set_index("event_id")
    reloaded = third["events"][third["events"]["event_id"].isin(before.index)].set_index("event_id")
    moved, resessioned, unghosted = reloaded.index
    assert before.loc[moved, "event_at"] < pd.Timestamp("2024-09-01") <= reloaded.loc[moved, "event_at"]
    assert before.loc[moved, "session_id"] == reloaded.loc[moved, "session_id"]
    assert before.loc[resessioned, "event_at"] == reloaded.loc[resessioned, "event_at"] >= RESESSIONED_FROM
    former_session = before.loc[resessioned, "session_id"]
    assert reloaded.loc[resessioned, "session_id"] == former_session + "-reloaded"
    former_day = before["event_at"].dt.normalize().eq(before.loc[resessioned, "event_at"].normalize())
    assert (before["session_id"].eq(former_session) & former_day).sum() == 1  # alone that day
    # the ghost's only data: one event, reloaded under a real customer in another session
    assert before["customer_id"].eq(GHOST_CUSTOMER).sum() == 1
    assert before.loc[unghosted, "customer_id"] == GHOST_CUSTOMER
    assert reloaded.loc[unghosted, "customer_id"] in set(first["customers"]["customer_id"])
    assert reloaded.loc[unghosted, "session_id"] != before.loc[unghosted, "session_id"]
    for load in (first, second, third):
        assert not load["orders"]["customer_id"].eq(GHOST_CUSTOMER).any()
        assert not load["customers"]["customer_id"].eq(GHOST_CUSTOMER).any()


@pytest.mark.parametrize("relation", list(RELATIONS))
def test_incremental_run_equals_full_refresh(warehouses: tuple[Path, Path], relation: str) -> None:
    incremental, full = warehouses
    keys = RELATIONS[relation]
    actual, expected = read(incremental, relation, keys), read(full, relation, keys)
    if relation == SESSION_DAYS:
        canary = actual["activity_date"] == pd.Timestamp("2024-02-01")
        assert canary.any() and (actual.loc[canary, "checkouts"] == -1).all()  # the old day was kept
        actual, expected = actual[~canary], expected[~canary]
    if relation == PRICED_LINES:
        canary = actual["ordered_at"].lt("2024-03-01") & actual["product_id"].ne(CHANGED_PRODUCT)
        flipped = actual.loc[canary, "has_unit_cost"] != expected.loc[canary, "has_unit_cost"]
        assert canary.any() and flipped.all()  # the old lines were kept
        actual, expected = actual.drop(columns="has_unit_cost"), expected.drop(columns="has_unit_cost")
    if relation in (VALUED_ORDERS, ORDERS):  # the view shows the table's row
        canary = actual["line_count"] == -1
        assert canary.sum() > 0 and actual.loc[canary, "customer_id"].nunique() == 1  # kept, not rebuilt
        actual.loc[canary, "line_count"] = expected.loc[canary, "line_count"]
    if relation == CUSTOMERS:
        canary = actual["country"] == "canary"
        assert canary.sum() == 1  # kept, not rebuilt
        actual.loc[canary, "country"] = expected.loc[canary, "country"]
    if relation == FEATURES:
        canary = actual["cutoff_date"] == pd.Timestamp(OLD_CUTOFF)
        assert canary.any() and (actual.loc[canary, "days_to_year_end_peak"] == -1).all()  # kept, not rebuilt
        actual.loc[canary, "days_to_year_end_peak"] = expected.loc[canary, "days_to_year_end_peak"]
    assert len(actual) == len(expected) > 0
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=1e-9)


def test_the_incremental_marts_saw_the_second_load(warehouses: tuple[Path, Path]) -> None:
    incremental, _ = warehouses
    with duckdb.connect(str(incremental), read_only=True) as con:
        last_session = con.execute("select max(session_date) from marts.fct_sessions").fetchone()[0]
        scoring = con.execute("select max(cutoff_date) from marts.customer_features").fetchone()[0]
        cancelled = con.execute(
            "select count(*) from intermediate.int_order_items_priced as lines "
            "inner join marts.fct_orders as orders on lines.order_id = orders.order_id "
            "where orders.is_cancelled and not lines.is_cancelled"
        ).fetchone()[0]
    assert last_session >= date(2024, 12, 30) and scoring >= date(2024, 12, 31)
    assert cancelled == 0  # the reloaded cancellation re-priced its lines


# A session of one logged-in customer that a later load adds another logged-in customer's event to, on the
# same day: the first customer keeps the visit, so their rows change with the session-day although nothing
# of theirs was loaded.
SHARED_FIRST = {
    "orders": [
        ("o1", "c1", datetime(2024, 1, 5, 10), 10.0, "completed", None, "web"),
        ("o2", "c2", datetime(2024, 1, 6, 10), 10.0, "completed", None, "web"),
    ],
    "events": [("e1", "s1", "c1", "page_view", datetime(2024, 6, 10, 10), None)],
}
SHARED_SECOND = {"events": [("e2", "s1", "c2", "product_view", datetime(2024, 6, 10, 10, 5), None)]}


def frames(load: dict[str, list[tuple]]) -> dict[str, pd.DataFrame]:
    """Return a load of contract-ordered rows as frames with the contract's column names."""
    return {
        table: pd.DataFrame(rows, columns=[column.name for column in RAW_TABLES[table]])
        for table, rows in load.items()
    }


def two_loads(
    root: Path, first: dict[str, list[tuple]], second: dict[str, list[tuple]], dbt_vars: dict
) -> tuple[Path, Path]:
    """Return (built after each load, then fully refreshed) warehouses of two hand-made loads in root."""
    incremental, full = root / "incremental.duckdb", root / "full.duckdb"
    for number, load in enumerate((first, second)):
        append(incremental, frames(load), str(number + 1), LOADED_AT[number])
        run_dbt(["build", "--exclude", "test_type:unit"], warehouse_path=incremental, dbt_vars=dbt_vars)
    shutil.copy(incremental, full)
    run_dbt(["run", "--full-refresh"], warehouse_path=full, dbt_vars=dbt_vars)
    return incremental, full


def assert_equals_full_refresh(warehouses: tuple[Path, Path], relation: str) -> None:
    """Assert the incrementally built relation equals the fully refreshed one (floats to 1e-9)."""
    incremental, full = warehouses
    keys = RELATIONS[relation]
    actual, expected = read(incremental, relation, keys), read(full, relation, keys)
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=1e-9)


@pytest.fixture(scope="module")
def shared_session_warehouses(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Return (incrementally built, fully refreshed) warehouses of the shared session's two loads."""
    root = tmp_path_factory.mktemp("shared_session")
    return two_loads(root, SHARED_FIRST, SHARED_SECOND, {"as_of_date": "2024-07-01"})


@pytest.mark.parametrize("relation", list(RELATIONS))
def test_a_new_event_of_another_customer_in_a_session_equals_full_refresh(
    shared_session_warehouses: tuple[Path, Path], relation: str
) -> None:
    assert_equals_full_refresh(shared_session_warehouses, relation)


def test_the_customer_already_in_the_session_keeps_the_visit(
    shared_session_warehouses: tuple[Path, Path],
) -> None:
    incremental, _ = shared_session_warehouses
    customers = read(incremental, CUSTOMERS, ["customer_id"]).set_index("customer_id")
    assert customers["sessions"].to_dict() == {"c1": 1, "c2": 1}
    features = read(incremental, FEATURES, ["customer_id", "cutoff_date"])
    scoring = features[features["cutoff_date"] == pd.Timestamp("2024-07-01")].set_index("customer_id")
    visits = scoring[["sessions_30d", "product_views_90d", "days_since_last_visit"]].to_dict("index")
    visit = {"sessions_30d": 1, "product_views_90d": 1, "days_since_last_visit": 21}
    assert visits == {"c1": visit, "c2": visit}
    spans = read(incremental, "intermediate.int_customer_active_day_spans", ["customer_id", "activity_date"])
    assert spans[["customer_id", "activity_date"]].values.tolist() == [
        ["c1", pd.Timestamp("2024-06-10")],
        ["c2", pd.Timestamp("2024-06-10")],
    ]


# The only event of a day, reloaded onto the next day in its session: its former day has no event left, so
# neither has a session-day there, as in a full build (the incremental run recomputes from that day on and
# replaces the days it computes, which no longer include it).
MOVED_DAY_FIRST = {
    "orders": [("o1", "c1", datetime(2024, 1, 5, 10), 10.0, "completed", None, "web")],
    "events": [
        ("e1", "s1", "c1", "product_view", datetime(2024, 6, 10, 10), None),
        ("e2", "s2", "c1", "page_view", datetime(2024, 6, 20, 10), None),
    ],
}
MOVED_DAY_SECOND = {"events": [("e1", "s1", "c1", "product_view", datetime(2024, 6, 11, 10), None)]}


@pytest.fixture(scope="module")
def moved_day_warehouses(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Return (incrementally built, fully refreshed) warehouses after the only event of a day moved a day."""
    root = tmp_path_factory.mktemp("moved_day")
    return two_loads(root, MOVED_DAY_FIRST, MOVED_DAY_SECOND, {"as_of_date": "2024-07-01"})


@pytest.mark.parametrize("relation", list(RELATIONS))
def test_a_day_that_lost_its_only_event_equals_full_refresh(
    moved_day_warehouses: tuple[Path, Path], relation: str
) -> None:
    assert_equals_full_refresh(moved_day_warehouses, relation)


def test_the_moved_event_is_counted_once(moved_day_warehouses: tuple[Path, Path]) -> None:
    incremental, _ = moved_day_warehouses
    days = read(incremental, SESSION_DAYS, ["session_id", "activity_date"])
    assert days[["session_id", "activity_date"]].values.tolist() == [
        ["s1", pd.Timestamp("2024-06-11")],
        ["s2", pd.Timestamp("2024-06-20")],
    ]
    features = read(incremental, FEATURES, ["customer_id", "cutoff_date"]).set_index("cutoff_date")
    assert features.loc[pd.Timestamp("2024-07-01"), "product_views_90d"] == 1


# The only data before two cutoffs, changed by a later load: o1, the only order before the extra cutoff of
# 10 January and the only completed one before 1 May, is reloaded cancelled and ten days later, and the only
# event before 10 January is reloaded a day after it. A full build has no row at 10 January in any model over
# the spine, and no feature or label row at 1 May; the incremental run rebuilds those cutoffs, finds no row
# for them, and must not keep the rows it had.
EMPTIED_VARS = {"as_of_date": "2024-09-01", "extra_cutoff_dates": ["2024-01-10"]}
EMPTIED_FIRST = {
    "products": [("p1", "Teddy", "toys", 10.0, 4.0)],
    "orders": [
        ("o1", "c1", datetime(2024, 1, 5, 10), 10.0, "completed", None, "web"),
        ("o2", "c2", datetime(2024, 5, 15, 10), 20.0, "completed", None, "web"),
    ],
    "order_items": [("o1", 1, "p1", 1, 10.0, None, None)],
    "events": [("e1", "s1", "c1", "product_view", datetime(2024, 1, 6, 10), "p1")],
}
EMPTIED_SECOND = {
    "orders": [("o1", "c1", datetime(2024, 1, 15, 10), 10.0, "cancelled", None, "web")],
    "events": [("e1", "s1", "c1", "product_view", datetime(2024, 1, 11, 10), "p1")],
}


@pytest.fixture(scope="module")
def emptied_cutoff_warehouses(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Return (incrementally built, fully refreshed) warehouses after a load left two cutoffs without rows."""
    return two_loads(tmp_path_factory.mktemp("emptied_cutoff"), EMPTIED_FIRST, EMPTIED_SECOND, EMPTIED_VARS)


@pytest.mark.parametrize("relation", list(RELATIONS))
def test_a_cutoff_left_without_rows_equals_full_refresh(
    emptied_cutoff_warehouses: tuple[Path, Path], relation: str
) -> None:
    assert_equals_full_refresh(emptied_cutoff_warehouses, relation)


def test_the_emptied_cutoffs_have_no_rows(emptied_cutoff_warehouses: tuple[Path, Path]) -> None:
    incremental, _ = emptied_cutoff_warehouses
    features = read(incremental, FEATURES, ["customer_id", "cutoff_date"])
    labels = read(incremental, "marts.customer_labels", ["customer_id", "cutoff_date", "horizon_days"])
    assert features.loc[features["customer_id"] == "c1", "cutoff_date"].tolist() == []  # cancelled: no buyer
    assert labels["customer_id"].eq("c1").sum() == 0
    assert features["cutoff_date"].min() == pd.Timestamp("2024-06-01")  # o2 of 15 May is the first completed


# A day's run of the scoring date alone: the product and category counts of the customers without a line
# since the scoring date the table holds are carried from it. c2 buys on the held date; c1's held count is
# a canary, carried only when nothing before the held date changed (a reloaded line of o1 then rebuilds it).
ITEMS = "intermediate.int_order_items_aggregated_to_cutoffs"
HELD_SCORING_DATE, NEXT_SCORING_DATE = "2024-07-10", "2024-07-12"
CARRIED_FIRST = {
    "products": [("p1", "Teddy", "toys", 10.0, 4.0), ("p2", "Atlas", "books", 20.0, 9.0)],
    "orders": [
        ("o1", "c1", datetime(2024, 6, 1, 10), 10.0, "completed", None, "web"),
        ("o2", "c2", datetime(2024, 6, 5, 10), 40.0, "completed", None, "web"),
        ("o3", "c3", datetime(2024, 6, 10, 10), 10.0, "completed", None, "web"),
    ],
    "order_items": [
        ("o1", 1, "p1", 1, 10.0, None, None),
        ("o2", 1, "p2", 2, 20.0, None, None),
        ("o3", 1, "p1", 1, 10.0, None, None),
    ],
}
CARRIED_SECOND = {
    "orders": [("o4", "c2", datetime(2024, 7, 10, 10), 10.0, "completed", None, "web")],
    "order_items": [("o4", 1, "p1", 1, 10.0, None, None)],
}
RELOADED_LINE = {"order_items": [("o1", 1, "p1", 2, 10.0, None, None)]}  # o1 of 1 June: two teddies


def carried_loads(root: Path, second: dict[str, list[tuple]]) -> tuple[Path, Path]:
    """Return (built at the held scoring date, its c1 count made 99, then at the next; fully refreshed)."""
    incremental, full = root / "incremental.duckdb", root / "full.duckdb"
    append(incremental, frames(CARRIED_FIRST), "1", LOADED_AT[0])
    build = ["build", "--exclude", "test_type:unit"]
    run_dbt(build, warehouse_path=incremental, dbt_vars={"as_of_date": HELD_SCORING_DATE})
    with duckdb.connect(str(incremental)) as con:
        con.execute(f"update {ITEMS} set distinct_products = 99 where customer_id = 'c1'")
    append(incremental, frames(second), "2", LOADED_AT[1])
    run_dbt(["run"], warehouse_path=incremental, dbt_vars={"as_of_date": NEXT_SCORING_DATE})
    shutil.copy(incremental, full)
    run_dbt(["run", "--full-refresh"], warehouse_path=full, dbt_vars={"as_of_date": NEXT_SCORING_DATE})
    return incremental, full


def product_counts(warehouses: tuple[Path, Path]) -> list[dict[str, int]]:
    """Return each warehouse's distinct products per customer at the next scoring date, in items and mart."""
    counts = []
    for path in warehouses:
        for relation in (ITEMS, FEATURES):
            rows = read(path, relation, ["customer_id", "cutoff_date"])
            assert rows["cutoff_date"].eq(pd.Timestamp(NEXT_SCORING_DATE)).all()  # the held date left
            counts.append(dict(zip(rows["customer_id"], rows["distinct_products"], strict=True)))
    return counts


def test_a_day_carries_the_counts_of_customers_without_a_new_line(tmp_path: Path) -> None:
    incremental, full = carried_loads(tmp_path, CARRIED_SECOND)
    assert product_counts((incremental, full)) == [
        {"c1": 99, "c2": 2, "c3": 1},  # c1 carried (the canary), c2 counted again with its new product
        {"c1": 99, "c2": 2, "c3": 1},
        {"c1": 1, "c2": 2, "c3": 1},
        {"c1": 1, "c2": 2, "c3": 1},
    ]
    for relation in RELATIONS:
        if relation not in (ITEMS, FEATURES):
            assert_equals_full_refresh((incremental, full), relation)


def test_a_day_that_changed_an_earlier_line_counts_every_customer_again(tmp_path: Path) -> None:
    second = {table: CARRIED_SECOND.get(table, []) + RELOADED_LINE.get(table, []) for table in CARRIED_SECOND}
    incremental, full = carried_loads(tmp_path, second)
    assert product_counts((incremental, full)) == [{"c1": 1, "c2": 2, "c3": 1}] * 4
    for relation in RELATIONS:
        assert_equals_full_refresh((incremental, full), relation)


def test_a_new_gross_margin_rate_stops_an_incremental_build_until_a_full_refresh(tmp_path: Path) -> None:
    # an incremental run valued only new rows at a changed rate, silently mixing two rates in every mart
    from include.dbt import DbtFailed

    warehouse = tmp_path / "warehouse.duckdb"
    first = {
        "orders": [
            ("o1", "c1", datetime(2024, 1, 5, 10), 100.0, "completed", None, "web"),  # no lines: 100 x rate
            ("o2", "c2", datetime(2024, 1, 6, 10), 50.0, "completed", None, "web"),  # its lines, no unit cost
        ],
        "order_items": [("o2", 1, "p1", 2, 25.0, None, 0)],
        "products": [("p1", "Mug", "kitchen", 25.0, None)],
    }
    second = {"orders": [("o3", "c1", datetime(2024, 2, 5, 10), 80.0, "completed", None, "web")]}
    build = ["build", "--select", "+int_orders_valued", "--resource-type", "seed", "--resource-type", "model"]
    append(warehouse, frames(first), "1", LOADED_AT[0])
    run_dbt(build, warehouse_path=warehouse, dbt_vars={"gross_margin_rate": 0.4})
    append(warehouse, frames(second), "2", LOADED_AT[1])

    rate_now = {"gross_margin_rate": 0.3}
    # the lines' model stops (and int_orders_valued is skipped); then the orders' model stops on its own
    for model in ("int_order_items_priced", "int_orders_valued"):
        with pytest.raises(DbtFailed) as stopped:
            run_dbt(["run", "--select", model], warehouse_path=warehouse, dbt_vars=rate_now)
        # the whole sentence, its fix too: cut at 200 characters, it ended "--full-refresh (the)."
        assert str(stopped.value).endswith(
            f"model.customer_value.{model} ({model} holds margins valued at gross_margin_rate 0.4 and this "
            "build's is 0.3 (CVW_GROSS_MARGIN_RATE): an incremental build would mix the two. Rebuild with "
            "cvw build --full-refresh (the transform DAG's param full_refresh), or set the rate back)."
        )
    orders = read(warehouse, "intermediate.int_orders_valued", ["order_id"])
    assert orders["order_id"].tolist() == ["o1", "o2"]  # nothing of the stopped builds was written

    run_dbt([*build, "--full-refresh"], warehouse_path=warehouse, dbt_vars=rate_now)
    valued = read(warehouse, "intermediate.int_orders_valued", ["order_id"])
    assert list(zip(valued["order_id"], valued["margin"].round(9), strict=True)) == [
        ("o1", 30.0),
        ("o2", 15.0),
        ("o3", 24.0),
    ]
    run_dbt(build, warehouse_path=warehouse, dbt_vars=rate_now)  # the rate unchanged: it builds


# (file of the project, its text, the text it becomes, what the stopped build names): the model's own file,
# a macro it calls through another (days_between through int_orders_valued's SQL), a macro it calls in its
# incremental branch alone (which dbt's parse, not incremental, never sees called), a view upstream of it
CHANGED_INPUTS = {
    "its own file": (
        "models/intermediate/int_orders_running_totals.sql",
        "then 0 else revenue end",
        "then 0 else revenue * 2 end",
        "models/intermediate/int_orders_running_totals.sql",
    ),
    "a macro upstream": (
        "macros/numeric_helpers.sql",
        "cast({{ dbt.datediff(start, end, 'day') }} as {{ dbt.type_bigint() }})",
        "cast({{ dbt.datediff(start, end, 'day') }} + 0 as {{ dbt.type_bigint() }})",
        "macro days_between in macros/numeric_helpers.sql",
    ),
    "a macro of its incremental branch": (
        "macros/incremental_helpers.sql",
        "run_query('select max(_loaded_at) from ' ~ relation)",
        "run_query('select max(_loaded_at) as loaded_at from ' ~ relation)",
        "macro loaded_through in macros/incremental_helpers.sql",
    ),
    "a view upstream": (
        "models/staging/shop/stg_shop__orders.sql",
        "select * from final",
        "-- read by every order model\nselect * from final",
        "models/staging/shop/stg_shop__orders.sql",
    ),
}


@pytest.mark.parametrize("changed", list(CHANGED_INPUTS))
def test_a_changed_incremental_model_stops_a_plain_build_until_a_full_refresh(
    tmp_path: Path, project_copy: Path, changed: str
) -> None:
    # an analyst changes how a feature is computed, its columns unchanged: a plain build passed and kept every
    # row built the old way, and the next load added rows computed the new way beside them. The model's SQL
    # is its file and the macros and views it reads: a change of any of them stops it
    from include.dbt import DbtFailed

    project = project_copy
    warehouse = tmp_path / "warehouse.duckdb"
    load = {"orders": [("o1", "c1", datetime(2024, 1, 5, 10), 100.0, "completed", None, "web")]}
    append(warehouse, frames(load), "1", LOADED_AT[0])
    build = ["run", "--select", "+int_orders_running_totals"]
    run_dbt(build, warehouse_path=warehouse)
    rfm = project / "macros" / "rfm.sql"  # a macro it does not call: a plain build still builds
    rfm.write_text(rfm.read_text() + "\n{# read by customer_rfm alone #}\n")
    run_dbt(build, warehouse_path=warehouse)

    path, text, new_text, named = CHANGED_INPUTS[changed]
    edited = project / path
    assert edited.read_text().count(text) == 1
    edited.write_text(edited.read_text().replace(text, new_text))
    with pytest.raises(DbtFailed) as stopped:  # the model alone: int_orders_valued upstream stops as well
        run_dbt(["run", "--select", "int_orders_running_totals"], warehouse_path=warehouse)
    assert str(stopped.value).endswith(
        f"model.customer_value.int_orders_running_totals ({named} changed since its table was built, and an "
        "incremental build would keep the rows built the old way beside new ones: rebuild with cvw build "
        "--full-refresh (the transform DAG's param full_refresh))."
    )
    run_dbt([*build, "--full-refresh"], warehouse_path=warehouse)
    run_dbt(build, warehouse_path=warehouse)  # built with the new SQL: it builds again
    totals = read(warehouse, "intermediate.int_orders_running_totals", ["order_id"])
    assert totals["revenue"].tolist() == [200.0 if changed == "its own file" else 100.0]


def test_the_incremental_records_exist_before_any_model_runs(tmp_path: Path) -> None:
    # with the profile's threads raised, dbt runs two models at once, and two post-hooks that each created a
    # missing record in transactions open together failed the second on DuckDB's "Catalog write-write
    # conflict" (a 20,000-customer shop's first build at 4 threads): the start hook creates them instead
    warehouse = tmp_path / "warehouse.duckdb"
    load = {"orders": [("o1", "c1", datetime(2024, 1, 5, 10), 100.0, "completed", None, "web")]}
    append(warehouse, frames(load), "1", LOADED_AT[0])
    run_dbt(["run", "--select", "stg_shop__orders"], warehouse_path=warehouse)  # a view: no incremental model
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = 'intermediate' "
            "and table_name like 'incremental%' order by all"
        ).fetchall()
    assert tables == [("incremental_model_inputs",), ("incremental_watermarks",)]


def test_the_record_of_model_files_alone_goes_at_the_first_build(tmp_path: Path) -> None:
    # a warehouse of the version that recorded each incremental model's file alone: its table has no use now
    warehouse = tmp_path / "warehouse.duckdb"
    load = {"orders": [("o1", "c1", datetime(2024, 1, 5, 10), 100.0, "completed", None, "web")]}
    append(warehouse, frames(load), "1", LOADED_AT[0])
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema intermediate")
        con.execute(
            "create table intermediate.incremental_sql_checksums (model_name varchar, sql_checksum varchar)"
        )
    run_dbt(["run", "--select", "+int_orders_running_totals"], warehouse_path=warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = 'intermediate' "
            "and table_name like 'incremental%' order by all"
        ).fetchall()
        inputs = con.execute(
            "select input_name from intermediate.incremental_model_inputs "
            "where model_name = 'int_orders_running_totals' order by all"
        ).fetchall()
    assert tables == [("incremental_model_inputs",), ("incremental_watermarks",)]
    names = [name for (name,) in inputs]
    assert "models/intermediate/int_orders_running_totals.sql" in names
    assert "models/staging/shop/stg_shop__orders.sql" in names
    assert "macro days_between in macros/numeric_helpers.sql" in names
    assert "macro loaded_through in macros/incremental_helpers.sql" in names  # its incremental branch's
    assert not [name for name in names if "rfm" in name or "sql_checksum" in name]
