"""bench/dbt_marts.py: a day as a share of the full build before it (the 10% target); the tests' seconds."""

from bench.dbt_marts import Measurement, Row, checks_cell, node_name, progress, share_of_full_build


def measured(seconds: float, cpu_seconds: float, failure: str | None = None) -> Measurement:
    return Measurement(seconds, 1.0, {}, 1.0, failure, cpu_seconds)


def test_each_day_is_a_share_of_the_full_build_in_wall_and_cpu_seconds_cut_not_rounded() -> None:
    results = [
        Row("one-cutoff", "full run, 1 cutoff", measured(70.0, 120.0), 10),
        Row("24-cutoffs", "full run, 24 monthly cutoffs", measured(160.7, 291.2), 20),
        Row("incremental-day", "incremental run after one new day", measured(14.6, 20.1), 21),
        Row("next-day", "incremental run of the next day", measured(16.1, 29.12), 22),
    ]
    # 14.6 / 160.7 = 9.085% and 20.1 / 291.2 = 6.902%; 16.1 / 160.7 = 10.018%, 29.12 / 291.2 = 10% exactly
    assert share_of_full_build(results) == ["-", "-", "9.08% (6.90% of CPU)", "10.01% (10.00% of CPU)"]


def test_no_share_without_a_full_build_to_compare_with_or_for_a_failed_run() -> None:
    day = Row("incremental-day", "incremental run after one new day", measured(14.6, 20.1), 21)
    assert share_of_full_build([day]) == ["-"]
    out_of_memory = "customer_features: Out of Memory"
    failed_full = Row("24-cutoffs", "full run", measured(99.0, 150.0, failure=out_of_memory), 0)
    assert share_of_full_build([failed_full, day]) == ["-", "-"]
    failed_day = Row("next-day", "next day", measured(3.0, 4.0, failure="dbt: exit code 2"), 0)
    full = Row("24-cutoffs", "full run", measured(160.7, 291.2), 20)
    assert share_of_full_build([full, failed_day]) == ["-", "-"]


def test_the_tests_cell_gives_a_builds_test_nodes_and_the_dbt_test_after_a_run() -> None:
    run = Row("next-day", "day", Measurement(51.11, 1.0, {}, 1.0, None, 83.04, 31.68), 21)
    assert checks_cell(run, build=False) == "-"
    assert checks_cell(run, build=True) == "in the build 31.6"
    checked = Row("next-day", "day", run.measurement, 21, measured(87.54, 151.01))
    assert checks_cell(checked, build=False) == "dbt test after it 87.5 (151.0 of CPU)"
    assert checks_cell(checked, build=True) == "in the build 31.6; dbt test after it 87.5 (151.0 of CPU)"
    why = "assert_customer_labels_only_at_complete_horizons: Got 2 results"
    failed = Row("next-day", "day", run.measurement, 21, measured(12.3, 20.0, failure=why))
    assert checks_cell(failed, build=False) == f"dbt test after it failed after 12.3: {why}"
    failed_build = Row("next-day", "day", measured(40.0, 60.0, failure=why), 0)
    assert checks_cell(failed_build, build=True) == "-"  # the failure is in the run's own cell


def test_the_lines_after_a_command_give_its_outcome_seconds_and_slowest_nodes_first() -> None:
    run = Measurement(21.97, 2.81, {"a": 0.5, "customer_features": 6.54, "b": 1.62}, 1.9, None, 33.12)
    assert progress("  day", run, 2, ", max load 1.9") == (
        "  day: ok, 21.9 s (33.1 s of CPU), max load 1.9\n    slowest: customer_features 6.5, b 1.6"
    )
    failed = Measurement(3.0, 1.0, {}, 1.0, "unique_stg_shop__events_event_id: Got 1 result", 4.0)
    assert progress("    dbt test", failed, 4) == (
        "    dbt test: FAILED (unique_stg_shop__events_event_id: Got 1 result), 3.0 s (4.0 s of CPU)\n"
        "    slowest: "
    )


def test_nodes_are_named_as_dbt_prints_them_each_unit_test_apart() -> None:
    assert node_name("model.customer_value.customer_features") == "customer_features"
    assert node_name("test.customer_value.unique_stg_shop__events_event_id.6d123dfdd6") == (
        "unique_stg_shop__events_event_id"
    )
    assert node_name("unit_test.customer_value.int_cutoff_spine.int_cutoff_spine_from_as_of_var") == (
        "int_cutoff_spine::int_cutoff_spine_from_as_of_var"
    )
