"""Training splits by time only, never learns from labels it must not see, and calibrates on validation."""

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from ml import blend, btyd_total, calibration, churn_calibration, fitting, metrics
from ml.features import model_matrix


def _monthly(start: str, months: int) -> list[pd.Timestamp]:
    return list(pd.date_range(start, periods=months, freq="MS"))


def test_split_puts_validation_one_horizon_before_test_and_fitting_one_horizon_before_validation() -> None:
    split = fitting.split_cutoffs(_monthly("2024-01-01", 12), pd.Timestamp("2024-12-01"), 90)
    # refit: c + 90 days <= 2024-12-01, i.e. c <= 2024-09-02; validation: the latest of them
    assert split.refit == _monthly("2024-01-01", 9)
    assert split.validation == pd.Timestamp("2024-09-01")
    # fit: c + 90 days <= 2024-09-01, i.e. c <= 2024-06-03
    assert split.fit == _monthly("2024-01-01", 6)
    assert split.test == pd.Timestamp("2024-12-01")


def test_split_stops_with_a_sentence_when_the_history_is_too_short() -> None:
    with pytest.raises(SystemExit, match="Too few labelled cutoffs before 2024-05-01 for a 90-day horizon"):
        fitting.split_cutoffs(_monthly("2024-01-01", 5), pd.Timestamp("2024-05-01"), 90)


def _labelled_frame(rng: np.random.Generator, months: int = 8) -> pd.DataFrame:
    """Return `months` monthly cutoffs from 2024-01 x 300 customers whose labels follow two features."""
    rows = []
    for cutoff in _monthly("2024-01-01", months):
        n = 300
        f1, f2 = rng.normal(size=n), rng.normal(size=n)
        buys = rng.random(n) < 1 / (1 + np.exp(-(f1 + 0.3)))
        revenue = np.where(buys, np.exp(3 + 0.5 * f2 + rng.normal(scale=0.3, size=n)), 0.0)
        rows.append(
            pd.DataFrame(
                {
                    "customer_id": [f"c{i}" for i in range(n)],
                    "cutoff_date": cutoff,
                    "f1": f1,
                    "f2": f2,
                    "region": rng.choice(["north", "south"], n),
                    "btyd_revenue": np.exp(2 + 0.3 * f2),
                    "btyd_expected_purchases": np.exp(0.5 * f1),
                    "days_since_first_order": 400,
                    "orders_lifetime": 4,
                    "order_days_lifetime": 4,
                    "label_revenue": revenue,
                    "label_orders": buys.astype(int),
                    "label_is_churned": ~buys,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


@pytest.fixture
def quick_boosters(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fit 30 rounds on one thread: the behaviour under test does not depend on either."""
    quick = {name: ({**params, "num_threads": 1}, 30) for name, (params, _) in fitting.BOOSTERS.items()}
    monkeypatch.setattr(fitting, "BOOSTERS", quick)


@pytest.mark.usefixtures("quick_boosters")
def test_the_evaluated_model_never_sees_labels_at_or_within_a_horizon_of_the_test_cutoff() -> None:
    frame = _labelled_frame(np.random.default_rng(1))
    features = ["f1", "f2", "region", "btyd_revenue", "btyd_expected_purchases"]
    test_cutoff = pd.Timestamp("2024-08-01")
    split = fitting.split_cutoffs(list(frame["cutoff_date"].unique()), test_cutoff, 90)
    model = fitting.fit_evaluated_model(frame, split, features)

    # scramble every label the model must not use: the test cutoff and the cutoffs whose window overlaps it
    unseen = frame["cutoff_date"] > pd.Timestamp("2024-05-03")
    scrambled = frame.copy()
    scrambled.loc[unseen, "label_revenue"] = 1e6
    scrambled.loc[unseen, "label_is_churned"] = ~scrambled.loc[unseen, "label_is_churned"]
    again = fitting.fit_evaluated_model(scrambled, split, features)

    test = fitting.at_cutoffs(frame, [test_cutoff])
    revenue, churn = fitting.predict(model, test)
    revenue_again, churn_again = fitting.predict(again, test)
    np.testing.assert_array_equal(revenue, revenue_again)
    np.testing.assert_array_equal(churn, churn_again)
    assert model.calibration == again.calibration
    assert metrics.spearman(test["label_revenue"].to_numpy(), revenue) > 0.3  # and it learnt something


def test_boosters_sharing_one_dataset_on_every_core_are_those_fitted_alone_on_one_thread() -> None:
    frame = _labelled_frame(np.random.default_rng(3))
    features = ["f1", "f2", "region", "btyd_revenue"]
    model = fitting.fit_boosters(frame, ("churn", "clv", "orders", "spend"), features)

    for name, (params, rounds) in fitting.BOOSTERS.items():
        rows = frame[frame["label_orders"] > 0] if name == "spend" else frame
        label = {"churn": "label_is_churned", "orders": "label_orders"}.get(name, "label_revenue")
        target = rows[label]
        alone = lgb.train(
            {**params, "num_threads": 1},
            lgb.Dataset(model_matrix(rows, features, model.levels), label=target.to_numpy(dtype=float)),
            num_boost_round=rounds,
        )
        # the trees, not the parameters section (which records num_threads)
        trees = model.boosters[name].model_to_string().split("parameters:")[0]
        assert trees == alone.model_to_string().split("parameters:")[0], name


def test_calibration_chooses_the_form_that_ranks_validation_better_and_matches_its_total() -> None:
    actual = np.array([0.0, 0.0, 10.0, 20.0, 40.0, 80.0])
    validation = pd.DataFrame({"label_revenue": actual, "label_is_churned": actual == 0})
    perfect, reversed_ = actual + 1, 100 - actual
    constant = {"churn": np.full(6, 0.5), "btyd_churn": np.full(6, 0.5), "btyd_revenue": np.full(6, 7.0)}
    raw = {**constant, "clv": perfect / 10, "spend": reversed_}
    chosen = calibration.fit_calibration(raw, validation, ("tweedie", "hurdle"))
    assert chosen["form"] == "tweedie"
    revenue, _ = blend.combine(raw, chosen)
    assert revenue.sum() == pytest.approx(raw["clv"].sum())  # the Tweedie booster sets the total
    assert chosen["validation_total_ratio"] == pytest.approx(actual.sum() / raw["clv"].sum())  # recorded only
    raw = {**constant, "clv": reversed_, "spend": perfect}
    assert calibration.fit_calibration(raw, validation, ("tweedie", "hurdle"))["form"] == "hurdle"


def test_calibration_blends_with_btyd_only_when_that_ranks_validation_better() -> None:
    actual = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    validation = pd.DataFrame({"label_revenue": actual, "label_is_churned": actual < 2})
    # LightGBM ranks the top four customers right and the bottom two wrong; BG/NBD the reverse
    raw = {
        "clv": np.array([2.0, 1.0, 3.0, 4.0, 5.0, 6.0]),
        "btyd_revenue": np.array([1.0, 2.0, 3.0, 3.0, 3.0, 3.0]),
        "churn": np.array([0.9, 0.8, 0.7, 0.1, 0.1, 0.1]),
        "btyd_churn": np.array([0.5, 0.5, 0.5, 0.5, 0.5, 0.5]),
    }
    chosen = calibration.fit_calibration(raw, validation, ("tweedie",))
    assert 0 < chosen["revenue_weight"] < 1
    assert chosen["churn_weight"] == 1.0  # a constant BG/NBD adds nothing to the churn ranking


def test_blends_are_geometric_for_revenue_and_on_log_odds_for_churn() -> None:
    raw = {
        "clv": np.array([4.0]),
        "btyd_revenue": np.array([9.0]),
        "churn": np.array([0.8]),
        "btyd_churn": np.array([0.2]),
    }
    assert blend.blend_revenue(raw, "tweedie", 0.5, raw["churn"]) == pytest.approx([6.0])
    assert blend.blend_churn(raw, 0.5) == pytest.approx([0.5])  # logit .8 = -logit .2
    assert blend.blend_churn(raw, 1.0) == pytest.approx([0.8])


@pytest.mark.parametrize("total", ["tweedie", "btyd"])
def test_without_a_btyd_revenue_the_blend_and_its_total_are_lightgbm_s(total: str) -> None:
    # scoring 2023-01-25 of a shop where nobody had bought twice yet: Gamma-Gamma had nothing to fit, its
    # revenue was NaN, and the blend wrote NaN predicted_revenue and discounted_clv for all 25 customers
    raw = {
        "clv": np.array([30.0, 10.0]),
        "btyd_revenue": np.array([np.nan, np.nan]),
        "churn": np.array([0.5, 0.5]),
        "btyd_churn": np.array([0.5, 0.5]),
    }
    chosen = {"form": "tweedie", "revenue_weight": 0.5, "revenue_total": total, "btyd_total_factor": 1.2}
    assert blend.blend_revenue(raw, "tweedie", 0.5, raw["churn"]).tolist() == [30.0, 10.0]
    revenue, _ = blend.combine(raw, chosen)
    assert revenue.tolist() == [30.0, 10.0]  # LightGBM's ranking, at the Tweedie booster's total of 40


def test_hurdle_revenue_is_purchase_probability_times_spend_with_the_tweedie_total() -> None:
    raw = {
        "churn": np.array([0.25, 0.9]),
        "btyd_churn": np.array([0.5, 0.5]),
        "spend": np.array([100.0, 50.0]),
        "clv": np.array([100.0, 60.0]),
    }
    # (1 - 0.25) x 100 = 75 and (1 - 0.9) x 50 = 5, scaled from their total 80 to the Tweedie total 160
    revenue, churn = blend.combine(raw, {"form": "hurdle"})
    assert revenue == pytest.approx([150.0, 10.0], rel=1e-9)
    assert churn == pytest.approx([0.25, 0.9], rel=1e-9)


def test_revenue_scale_makes_the_predicted_total_the_actual_total() -> None:
    assert blend.fit_revenue_scale(np.array([10.0, 30.0]), np.array([5.0, 15.0])) == 2.0
    assert blend.fit_revenue_scale(np.array([10.0]), np.array([0.0])) == 1.0  # undefined: no change


def test_platt_scaling_maps_two_score_levels_onto_their_observed_rates() -> None:
    # 1,000 customers scored 0.2 of whom 400 churned, 1,000 scored 0.8 of whom 900 churned
    probability = np.repeat([0.2, 0.8], 1000)
    churned = np.concatenate([np.arange(1000) < 400, np.arange(1000) < 900])
    fitted = calibration.fit_platt(churned, probability)
    calibrated = blend.apply_probability_calibration(fitted, np.array([0.2, 0.8]))
    assert calibrated == pytest.approx([0.4, 0.9], abs=1e-5)


def test_platt_scaling_keeps_the_order_of_the_scores() -> None:
    rng = np.random.default_rng(3)
    probability = rng.random(500)
    churned = rng.random(500) < probability**2
    calibrated = blend.apply_probability_calibration(calibration.fit_platt(churned, probability), probability)
    assert (np.argsort(calibrated, kind="stable") == np.argsort(probability, kind="stable")).all()


def test_platt_never_reverses_scores_that_rank_worse_than_chance() -> None:
    # a slope of -28.7 turned a validation ROC-AUC of 0.0 into 1.0: calibration reordered the customers
    churned = np.array([1, 1, 1, 0, 0, 0, 1, 0])
    probability = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9, 0.4, 0.6])
    fitted = calibration.fit_platt(churned, probability)
    assert fitted["slope"] == 0.0
    calibrated = blend.apply_probability_calibration(fitted, probability)
    assert calibrated == pytest.approx([0.5] * 8, abs=1e-6)  # one probability: the observed rate


def test_isotonic_calibration_is_the_monotone_fit_of_observed_rates() -> None:
    fitted = calibration.fit_isotonic(np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.3, 0.4]))
    # pool-adjacent-violators: (0), (1, 0) pooled to 0.5, (1)
    calibrated = blend.apply_probability_calibration(fitted, np.array([0.1, 0.25, 0.4]))
    assert calibrated == pytest.approx([0.0, 0.5, 1.0])


def test_reliability_table_counts_customers_and_outcomes_per_probability_bin() -> None:
    probability = np.array([0.05, 0.08, 0.55, 0.58, 0.95])
    churned = np.array([False, True, True, True, True])
    table = churn_calibration.reliability_table(churned, probability)
    assert table["probability_range"].tolist() == ["0.0-0.1", "0.5-0.6", "0.9-1.0"]
    assert table["customers"].tolist() == [2, 2, 1]
    assert table["observed_rate"].tolist() == [0.5, 1.0, 1.0]
    assert table["mean_predicted"].tolist() == pytest.approx([0.065, 0.565, 0.95])


def test_reliability_table_names_each_bin_by_its_own_edges_whatever_the_bins() -> None:
    # at 20 bins, one decimal named 0.30-0.35 "0.3-0.3" and 0.90-0.95 "0.9-0.9"
    probability = np.array([0.31, 0.62, 0.93])
    table = churn_calibration.reliability_table(np.array([True, False, True]), probability, bins=20)
    assert table["probability_range"].tolist() == ["0.30-0.35", "0.60-0.65", "0.90-0.95"]
    table = churn_calibration.reliability_table(np.array([True, False, True]), probability, bins=4)
    assert table["probability_range"].tolist() == ["0.25-0.50", "0.50-0.75", "0.75-1.00"]


def test_totals_come_from_btyd_until_the_boosters_have_a_year_of_cutoffs() -> None:
    monthly = pd.date_range("2010-03-01", periods=12, freq="MS")
    assert btyd_total.total_source(monthly[:11]) == "btyd"  # 306 days from the first to the last
    assert btyd_total.total_source(monthly) == "tweedie"  # 337 days
    # more cutoffs over the same months are not more seasons
    half_monthly = monthly[:11].union(monthly[:11] + pd.Timedelta(days=14))
    assert len(half_monthly) == 22 and btyd_total.total_source(half_monthly) == "btyd"
    raw = {
        "churn": np.array([0.5, 0.5]),
        "btyd_churn": np.array([0.5, 0.5]),
        "clv": np.array([30.0, 10.0]),
        "btyd_revenue": np.array([1.0, 1.0]),
    }
    # the Tweedie ranking at weight 1, rescaled to the BG/NBD total of 2
    revenue, _ = blend.combine(raw, {"form": "tweedie", "revenue_total": "btyd"})
    assert revenue == pytest.approx([1.5, 0.5])


def _cutoff_totals(rows: list[tuple[str, float, float, int]]) -> pd.DataFrame:
    """Return two customers per cutoff whose labels, BTYD revenue and history sum to the given totals."""
    frame = pd.DataFrame(
        [
            {
                "cutoff_date": pd.Timestamp(cutoff),
                "label_revenue": actual / 2,
                "btyd_revenue": predicted / 2,
                "days_since_first_order": history - customer,
            }
            for cutoff, actual, predicted, history in rows
            for customer in (0, 1)
        ]
    )
    return frame


def test_the_btyd_total_is_corrected_halfway_by_its_error_one_year_earlier() -> None:
    labelled = _cutoff_totals(
        [
            ("2023-05-01", 300.0, 100.0, 200),
            ("2023-06-01", 150.0, 100.0, 200),  # 10 days from 2023-06-11, a year before the cutoff
            ("2023-07-01", 50.0, 100.0, 200),
        ]
    )
    # actual / predicted = 1.5 a year earlier: the factor is the mean of 1 and 1.5
    assert btyd_total.seasonal_total_factor(labelled, pd.Timestamp("2024-06-10")) == 1.25
    raw = {
        "churn": np.array([0.5, 0.5]),
        "btyd_churn": np.array([0.5, 0.5]),
        "clv": np.array([30.0, 10.0]),
        "btyd_revenue": np.array([6.0, 2.0]),
    }
    calibrated = {"form": "tweedie", "revenue_total": "btyd", "btyd_total_factor": 1.25}
    revenue, _ = blend.combine(raw, calibrated)
    assert revenue == pytest.approx([7.5, 2.5])  # the Tweedie ranking, rescaled to 8 x 1.25 = 10


def test_no_seasonal_correction_without_a_year_earlier_cutoff_with_half_a_year_of_history() -> None:
    young = _cutoff_totals([("2023-06-01", 150.0, 100.0, 179)])  # BG/NBD fitted on under 180 days of orders
    assert btyd_total.seasonal_total_factor(young, pd.Timestamp("2024-06-10")) == 1.0
    far = _cutoff_totals([("2023-05-01", 150.0, 100.0, 400)])  # 41 days from a year earlier
    assert btyd_total.seasonal_total_factor(far, pd.Timestamp("2024-06-10")) == 1.0
    revenue, _ = blend.combine(
        {
            "churn": np.array([0.5]),
            "btyd_churn": np.array([0.5]),
            "clv": np.array([3.0]),
            "btyd_revenue": np.array([2.0]),
        },
        {"form": "tweedie", "revenue_total": "btyd"},  # a model saved before the factor existed
    )
    assert revenue == pytest.approx([2.0])


def test_a_candidate_with_an_undefined_ranking_score_is_never_chosen_even_first() -> None:
    # a constant Tweedie booster: its Spearman is undefined (NaN), so its unblended score is NaN; max() over
    # the scores would keep that first candidate, as nothing compares greater than NaN
    actual = np.array([0.0, 0.0, 10.0, 20.0, 40.0, 80.0])
    validation = pd.DataFrame({"label_revenue": actual, "label_is_churned": actual == 0})
    raw = {
        "churn": np.full(6, 0.5), "btyd_churn": np.full(6, 0.5),
        "clv": np.full(6, 20.0), "spend": np.full(6, 50.0), "btyd_revenue": actual + 1,
    }  # fmt: skip
    chosen = calibration.fit_calibration(raw, validation, ("tweedie", "hurdle"))
    assert np.isnan(chosen["validation_scores"]["revenue_ranking"]["tweedie 1.0"])
    assert (chosen["form"], chosen["revenue_weight"]) == ("tweedie", 0.75)  # the first defined, best score


def test_training_where_nobody_bought_in_the_fit_windows_stops_with_a_sentence() -> None:
    frame = _labelled_frame(np.random.default_rng(3)).assign(label_revenue=0.0, label_orders=0)
    with pytest.raises(
        SystemExit,
        match=r"No customer bought in the label windows of the 8 cutoffs from "
        r"2024-01-01 to 2024-08-01: every customer churned there",
    ):
        fitting.fit_boosters(frame, ("churn", "clv", "spend"), ["f1", "f2", "region"])


@pytest.mark.usefixtures("quick_boosters")
def test_a_validation_cutoff_where_nobody_bought_leaves_the_churn_booster_uncalibrated() -> None:
    # a shop that paused sales for the 90 days after the validation cutoff (2024-05-01 for a test on 08-01):
    # Platt fitted there put every test customer's churn probability at 0.99999
    frame = _labelled_frame(np.random.default_rng(1))
    paused = frame["cutoff_date"] == pd.Timestamp("2024-05-01")
    frame.loc[paused, ["label_revenue", "label_orders", "label_is_churned"]] = (0.0, 0, True)
    features = ["f1", "f2", "region", "btyd_revenue", "btyd_expected_purchases"]
    split = fitting.split_cutoffs(list(frame["cutoff_date"].unique()), pd.Timestamp("2024-08-01"), 90)
    model = fitting.fit_evaluated_model(frame, split, features)

    assert model.calibration["churn"] is None
    assert model.calibration["skipped"] == (
        "no customer bought in its horizon: the churn probability is LightGBM's alone, uncalibrated"
    )
    assert (model.calibration["churn_weight"], model.calibration["revenue_weight"]) == (1.0, 1.0)
    test = fitting.at_cutoffs(frame, [split.test])
    _, churn = fitting.predict(model, test)
    booster = model.boosters["churn"].predict(model_matrix(test, features, model.levels))
    np.testing.assert_allclose(churn, booster, rtol=1e-12)  # through the blend's log-odds and back
    assert churn.max() < 0.95  # Platt had put every one at 0.99999


def test_a_validation_cutoff_where_everybody_bought_fits_no_platt_calibrator() -> None:
    validation = pd.DataFrame({"label_revenue": [5.0, 10.0, 20.0], "label_is_churned": [False] * 3})
    raw = {name: np.array([0.2, 0.5, 0.7]) for name in ("churn", "btyd_churn", "clv", "btyd_revenue")}
    chosen = calibration.fit_calibration(raw, validation, ("tweedie",))
    assert chosen["churn"] is None
    assert chosen["skipped"].startswith("every customer bought in its horizon")
    np.testing.assert_allclose(blend.combine(raw, chosen)[1], raw["churn"], rtol=1e-12)


def test_predicted_orders_are_the_orders_boosters_when_it_sets_the_total() -> None:
    raw = {"orders": np.array([2.0, 0.5, -0.1]), "btyd_orders": np.array([9.0, 9.0, 9.0])}
    orders = blend.combine_orders(raw, {"form": "tweedie", "revenue_total": "tweedie"})
    assert orders.tolist() == [2.0, 0.5, 0.0]  # the booster's own orders, never below 0
    assert blend.combine_orders({"btyd_orders": raw["btyd_orders"]}, {"form": "tweedie"}) is None


def test_predicted_orders_take_bg_nbd_s_seasonal_total_when_it_sets_the_revenue_total() -> None:
    raw = {"orders": np.array([1.0, 3.0, 4.0]), "btyd_orders": np.array([2.0, 4.0, np.nan])}
    calibrated = {"form": "tweedie", "revenue_total": "btyd", "btyd_orders_factor": 1.5}
    # the booster's ranking rescaled to (2 + 4) x 1.5 = 9 plus its own 4 where BG/NBD has none: 13 of 8
    assert blend.combine_orders(raw, calibrated) == pytest.approx([13 / 8, 39 / 8, 52 / 8])


def test_the_orders_total_gets_its_own_seasonal_factor_from_bg_nbd_s_orders_a_year_earlier() -> None:
    labelled = _cutoff_totals([("2023-06-01", 150.0, 100.0, 200)])  # revenue: actual / predicted 1.5
    # BG/NBD expected 2 order days of each customer, who orders 3 times a day with one: 12 orders, 9 placed
    labelled = labelled.assign(
        label_orders=4.5, btyd_expected_purchases=2.0, orders_lifetime=6, order_days_lifetime=2
    )
    factors = btyd_total.seasonal_factors(labelled, pd.Timestamp("2024-06-10"))
    assert factors == {"btyd_total_factor": 1.25, "btyd_orders_factor": (1 + 9 / 12) / 2}


@pytest.mark.usefixtures("quick_boosters")
def test_the_orders_booster_learns_the_labels_orders() -> None:
    frame = _labelled_frame(np.random.default_rng(1))
    features = ["f1", "f2", "region", "btyd_revenue", "btyd_expected_purchases"]
    model = fitting.fit_boosters(frame, fitting.CLV_FORMS["tweedie"], features)
    assert fitting.BOOSTERS["orders"][0]["objective"] == "poisson"
    predicted = model.boosters["orders"].predict(model_matrix(frame, features, model.levels))
    # Poisson's log link fits the mean: the fitted rows' orders add up to the labels' (within 1%)
    assert predicted.sum() == pytest.approx(frame["label_orders"].sum(), rel=0.01)


@pytest.mark.usefixtures("quick_boosters")
def test_the_churn_level_is_the_booster_s_only_once_it_learnt_from_a_year_of_cutoffs() -> None:
    # Under a year of cutoffs the boosters have not seen every season's churn level: validation's Platt
    # calibrator sets it, intercept included, as BG/NBD + Gamma-Gamma set the revenue total. From a year
    # on, the slope is pooled over cutoffs one horizon apart and the level left to the booster.
    features = ["f1", "f2", "region", "btyd_revenue", "btyd_expected_purchases"]
    short = _labelled_frame(np.random.default_rng(1))
    split = fitting.split_cutoffs(list(short["cutoff_date"].unique()), pd.Timestamp("2024-08-01"), 90)
    model = fitting.fit_evaluated_model(short, split, features)
    validation = fitting.at_cutoffs(short, [split.validation])
    stage = fitting.fit_boosters(fitting.at_cutoffs(short, split.fit), ("churn", "clv", "spend"), features)
    churn_blend = blend.blend_churn(
        fitting.raw_predictions(stage, validation), model.calibration["churn_weight"]
    )
    assert model.calibration["revenue_total"] == "btyd"
    assert model.calibration["churn"] == calibration.fit_platt(
        validation["label_is_churned"].to_numpy(), churn_blend
    )
    assert model.calibration["churn"]["intercept"] != 0.0
    assert list(model.churn_pool) == [split.validation]  # no booster fitted for a pool

    long = _labelled_frame(np.random.default_rng(1), months=20)
    split = fitting.split_cutoffs(list(long["cutoff_date"].unique()), pd.Timestamp("2025-08-01"), 90)
    model = fitting.fit_evaluated_model(long, split, features)
    assert model.calibration["revenue_total"] == "tweedie"
    assert model.calibration["churn"]["intercept"] == 0.0 and model.calibration["churn"]["slope"] > 0
    # validation (2025-05-01) and the cutoffs one horizon apart before it within a year
    assert list(model.churn_pool) == [
        pd.Timestamp(d) for d in ("2025-05-01", "2025-01-01", "2024-10-01", "2024-07-01")
    ]


def test_training_warns_that_the_test_is_not_of_a_champion_whose_year_of_cutoffs_sets_its_totals() -> None:
    # 14 monthly cutoffs, test 2025-02-01: the tested model is refitted on the 11 whose labels ended by it,
    # under a year, so BG/NBD sets its total; the champion, refitted on all 14, takes its boosters'
    features = ["f1", "f2", "region", "btyd_revenue", "btyd_expected_purchases"]
    frame = _labelled_frame(np.random.default_rng(3), months=14)
    test_cutoff = pd.Timestamp("2025-02-01")
    split = fitting.split_cutoffs(list(frame["cutoff_date"].unique()), test_cutoff, 90)
    tested = fitting.fit_evaluated_model(frame, split, features)
    champion = fitting.fit_champion(frame, tested, test_cutoff)
    assert (tested.calibration["revenue_total"], champion.calibration["revenue_total"]) == ("btyd", "tweedie")
    assert btyd_total.totals_warning(tested.calibration, champion.calibration, len(split.refit), 14) == (
        "the champion learnt from a year of cutoffs (14) and takes its total revenue and churn level from "
        "its boosters; the tested model, refitted on 11, took them from BG/NBD + Gamma-Gamma, so the test "
        "cutoff's bias, decile MAPE and churn Brier are not the champion's. This history cannot test them "
        "out of time (that needs a year of cutoffs whose labels ended before a test cutoff): the first "
        "scoring dates whose horizon has elapsed will (`cvw monitor` backtests)"
    )
    btyd = {"revenue_total": "btyd"}
    assert btyd_total.totals_warning(btyd, btyd, 7, 10) == (
        "the model learnt from less than a year of cutoffs (7 tested, 10 refitted): total revenue comes from "
        "BG/NBD + Gamma-Gamma and is unreliable (load more history)"
    )
    assert btyd_total.totals_warning(champion.calibration, champion.calibration, 12, 14) is None
