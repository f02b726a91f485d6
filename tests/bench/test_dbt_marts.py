"""bench/dbt_marts.py states each day as a share of the full build it follows: the 10% target's figure."""

from bench.dbt_marts import Measurement, share_of_full_build


def measured(seconds: float, cpu_seconds: float, failure: str | None = None) -> Measurement:
    return Measurement(seconds, 1.0, {}, 1.0, failure, cpu_seconds)


def test_each_day_is_a_share_of_the_full_build_in_wall_and_cpu_seconds_cut_not_rounded() -> None:
    results = [
        ("one-cutoff", "full run, 1 cutoff", measured(70.0, 120.0), 10),
        ("24-cutoffs", "full run, 24 monthly cutoffs", measured(160.7, 291.2), 20),
        ("incremental-day", "incremental run after one new day", measured(14.6, 20.1), 21),
        ("next-day", "incremental run of the next day", measured(16.1, 29.12), 22),
    ]
    # 14.6 / 160.7 = 9.085% and 20.1 / 291.2 = 6.902%; 16.1 / 160.7 = 10.018%, 29.12 / 291.2 = 10% exactly
    assert share_of_full_build(results) == ["-", "-", "9.08% (6.90% of CPU)", "10.01% (10.00% of CPU)"]


def test_no_share_without_a_full_build_to_compare_with_or_for_a_failed_run() -> None:
    day = ("incremental-day", "incremental run after one new day", measured(14.6, 20.1), 21)
    assert share_of_full_build([day]) == ["-"]
    out_of_memory = "customer_features: Out of Memory"
    failed_full = ("24-cutoffs", "full run", measured(99.0, 150.0, failure=out_of_memory), 0)
    assert share_of_full_build([failed_full, day]) == ["-", "-"]
    failed_day = ("next-day", "next day", measured(3.0, 4.0, failure="dbt: exit code 2"), 0)
    full = ("24-cutoffs", "full run", measured(160.7, 291.2), 20)
    assert share_of_full_build([full, failed_day]) == ["-", "-"]
