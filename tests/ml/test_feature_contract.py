"""A model scores only a mart with the features it learnt, read as it learnt them."""

import duckdb
import pytest

from ml import feature_contract


def test_feature_compatibility_names_missing_and_new_columns() -> None:
    feature_contract.check_feature_compatibility(["a", "b"], ["customer_id", "cutoff_date", "b", "a"])
    with pytest.raises(SystemExit) as raised:
        feature_contract.check_feature_compatibility(["a", "b"], ["customer_id", "a", "c"], "v1")
    assert str(raised.value) == (
        "marts.customer_features no longer matches model v1: the mart lacks b and has new c; "
        "retrain (cvw train) after changing the mart, or rebuild the mart the model was trained on."
    )


def test_mart_feature_types_read_the_mart_in_order() -> None:
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.customer_features "
        "(customer_id varchar, cutoff_date date, z int, a decimal(18, 2))"
    )
    assert list(feature_contract.mart_feature_types(con).items()) == [
        ("z", "INTEGER"),
        ("a", "DECIMAL(18,2)"),
    ]


def test_feature_compatibility_names_a_feature_the_model_would_read_otherwise_than_it_learnt() -> None:
    features, trained = ["orders_90d", "region"], {"orders_90d": "INTEGER", "region": "VARCHAR"}
    # a number stays a number whatever its width; a model saved without its types is checked by name
    widened = {"orders_90d": "DOUBLE", "region": "VARCHAR"}
    retyped = {"orders_90d": "VARCHAR", "region": "INTEGER"}
    feature_contract.check_feature_compatibility(features, widened, "v1", feature_types=trained)
    feature_contract.check_feature_compatibility(features, retyped, "v1")
    with pytest.raises(SystemExit) as raised:
        feature_contract.check_feature_compatibility(
            features, {**retyped, "c": "INTEGER"}, "v1", feature_types=trained
        )
    assert str(raised.value) == (
        "marts.customer_features no longer matches model v1: the mart has new c and has orders_90d as "
        "VARCHAR (the model learnt INTEGER), region as INTEGER (the model learnt VARCHAR); "
        "retrain (cvw train) after changing the mart, or rebuild the mart the model was trained on."
    )


def test_derived_model_inputs_are_not_expected_in_the_mart() -> None:
    feature_contract.check_feature_compatibility(
        ["a", "btyd_revenue"], ["customer_id", "a"], derived=["btyd_revenue"]
    )
