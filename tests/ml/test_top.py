"""`cvw top`: the latest scores' top customers, and a count of scored customers that reconciles."""

from pathlib import Path

import duckdb
import pytest

from ml import top


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """Return a warehouse whose latest scores (2026-01-15) are of a date the feature mart does not hold."""
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create schema scores")
        # the feature mart built for 2026-01-01; 2026-01-15 was scored from marts built for it elsewhere
        con.execute(
            "create table marts.customer_features as select * from (values ('A', date '2026-01-01'), "
            "('B', date '2026-01-01')) as t(customer_id, cutoff_date)"
        )
        con.execute(
            """
            create table marts.fct_orders as select * from (values
                ('A', timestamp '2025-12-01 10:00', false), ('B', timestamp '2025-12-31 23:59', false),
                ('C', timestamp '2026-01-10 09:00', false), ('C', timestamp '2026-01-11 09:00', false),
                ('D', timestamp '2026-01-12 09:00', true), ('E', timestamp '2026-01-15 00:00', false)
            ) as t(customer_id, ordered_at, is_cancelled)
            """
        )
        con.execute(
            """
            create table scores.customer_scores as select * from (values
                ('A', date '2026-01-01'), ('B', date '2026-01-01'),
                ('A', date '2026-01-15'), ('B', date '2026-01-15'), ('C', date '2026-01-15')
            ) as t(customer_id, as_of_date)
            """
        )
    return path


def test_the_summary_counts_the_customers_with_a_completed_order_before_the_latest_date(warehouse) -> None:
    # it counted the feature mart's rows at the date: "3 rows for 0 customers with an order before that date"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert top.score_summary(con) == ("2026-01-15", 3, 3)  # D's order was cancelled, E's is on the date


def test_a_score_table_a_killed_first_scoring_left_empty_is_one_sentence(tmp_path: Path) -> None:
    # the scoring creates the table before it writes its rows in one transaction: killed or failed between
    # the two, it leaves the table empty, and `cvw top` ended in "TypeError: cannot unpack non-iterable ..."
    from ml.score_tables import ensure_score_tables

    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        ensure_score_tables(con)
    with pytest.raises(SystemExit, match=r"^scores.customer_scores is empty: score the customers first"):
        top.print_summary(path)


# Score rows (customer_id, predicted_revenue, discounted_clv, churn_probability, tier, band, action, reasons)
SCORED = [
    ("A", 10.0, 9.0, 0.1, "high", "low", "upsell", "r1; r2"),
    ("B", 5.0, 4.5, 0.5, "medium", "medium", "nurture", "r3"),
    ("C", 1.0, 0.9, 0.9, "low", "high", "let go", "r4"),
]


def scored_warehouse(path: Path, scored: list[tuple], as_of: str, rfm_as_of: str) -> Path:
    """Write a warehouse whose scores of `as_of` are `scored`, each customer a Champion in an RFM mart of
    `rfm_as_of` and with one order before it; return its path."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create schema scores")
        con.execute(
            "create table scores.customer_scores (customer_id varchar, as_of_date date, predicted_revenue "
            "double, discounted_clv double, churn_probability double, value_tier varchar, risk_band varchar, "
            "action varchar, churn_reasons varchar)"
        )
        con.executemany(
            "insert into scores.customer_scores values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(row[0], as_of, *row[1:]) for row in scored],
        )
        con.execute("create view scores.customer_scores_latest as select * from scores.customer_scores")
        con.execute(
            "create table marts.customer_rfm as select customer_id, ?::date as as_of_date, "
            "'Champions' as rfm_segment from scores.customer_scores",
            [rfm_as_of],
        )
        con.execute(
            "create table marts.fct_orders as select customer_id, timestamp '2025-12-01' as ordered_at, "
            "false as is_cancelled from scores.customer_scores"
        )
    return path


def test_the_top_list_is_headed_with_the_customers_it_shows(tmp_path: Path, capsys) -> None:
    # `cvw top --limit 100000` headed the list "Top 100000 customers" in a shop of three
    path = scored_warehouse(tmp_path / "warehouse.duckdb", SCORED, "2026-01-01", "2026-01-01")
    top.print_summary(path, limit=100_000)
    shown = capsys.readouterr().out
    assert "Scores as of 2026-01-01: 3 rows for 3 customers with an order before that date." in shown
    assert "\nTop 3 customers by discounted CLV over the horizon:\n" in shown
    top.print_summary(path, limit=2)
    assert "\nTop 2 customers by discounted CLV over the horizon:\n" in capsys.readouterr().out


def test_scores_of_a_date_the_rfm_mart_was_not_built_for_say_so_instead_of_none_segments(
    tmp_path: Path, capsys
) -> None:
    # scores of 2026-02-01 from marts built for it in a scratch copy, the warehouse's RFM mart of 2026-01-01:
    # `cvw top` printed None as every customer's rfm_segment
    path = scored_warehouse(tmp_path / "warehouse.duckdb", SCORED[:2], "2026-02-01", "2026-01-01")
    top.print_summary(path)
    shown = capsys.readouterr().out
    assert "rfm_segment" not in shown and "None" not in shown
    assert (
        "\nNo RFM segments: 2026-02-01 was scored before each scoring kept its RFM rows, and "
        "marts.customer_rfm is built for 2026-01-01; score it again (cvw score --as-of-date 2026-02-01) to "
        "keep them.\n" in shown
    )
    with duckdb.connect(str(path)) as con:
        con.execute("update marts.customer_rfm set as_of_date = date '2026-02-01'")
    top.print_summary(path)
    shown = capsys.readouterr().out
    assert "rfm_segment" in shown and "Champions" in shown and "No RFM segments" not in shown


def test_a_date_scored_in_a_scratch_copy_shows_the_rfm_segments_its_scoring_kept(
    tmp_path: Path, capsys
) -> None:
    # its RFM rows are in scores.customer_rfm only (ml/rfm_snapshot.py): `cvw top` read marts.customer_rfm,
    # of the warehouse's own date, and printed no segments where the BI marts showed them
    path = scored_warehouse(tmp_path / "warehouse.duckdb", SCORED[:2], "2026-02-01", "2026-01-01")
    with duckdb.connect(str(path)) as con:
        con.execute(
            "create table scores.customer_rfm as select customer_id, as_of_date, 'Loyal' as rfm_segment "
            "from scores.customer_scores"
        )
    top.print_summary(path)
    shown = capsys.readouterr().out
    assert "No RFM segments" not in shown
    assert [line.split()[-2:] for line in shown.splitlines() if line.split()[:1] in (["A"], ["B"])] == [
        ["Loyal", "r1"],
        ["Loyal", "r3"],
    ]
