"""Score every customer at the scoring date with the champion and write scores.customer_scores."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from include.settings import get_settings
from include.warehouse import connect
from ml.artifacts import load_champion
from ml.btyd import BTYD_FEATURES
from ml.data import load_scoring_frame, scoring_date
from ml.train import predict_customers

# Value tiers by rank of predicted revenue: the top 10% are high, the next 40% medium, the rest low.
TIER_CUT_POINTS = ((0.10, "high"), (0.50, "medium"), (1.00, "low"))

SCORES_DDL = """
create table if not exists scores.customer_scores (
    customer_id varchar not null,
    as_of_date date not null,
    churn_probability double not null,
    predicted_revenue double not null,
    value_tier varchar not null,
    model_version varchar not null,
    scored_at timestamp not null,
    primary key (customer_id, as_of_date)
)
"""


def value_tiers(predicted_revenue: np.ndarray, customer_ids: np.ndarray) -> np.ndarray:
    """Return each customer's value tier from the rank of its predicted revenue (ties broken by id)."""
    order = np.lexsort((customer_ids, -np.asarray(predicted_revenue, dtype=float)))
    rank_share = np.empty(len(order))
    rank_share[order] = np.arange(1, len(order) + 1) / max(len(order), 1)
    upper_bounds = [rank_share <= upper for upper, _ in TIER_CUT_POINTS[:-1]]
    return np.select(upper_bounds, [tier for _, tier in TIER_CUT_POINTS[:-1]], TIER_CUT_POINTS[-1][1])


def predict_scores(frame: pd.DataFrame, boosters: dict, metadata: dict, version: str) -> pd.DataFrame:
    """Return one score row per customer of a features frame."""
    # the BTYD columns are model outputs computed at prediction time, not mart columns
    missing = [c for c in metadata["features"] if c not in frame.columns and c not in BTYD_FEATURES]
    if missing:
        raise SystemExit(
            f"The champion {version} needs features the mart no longer has ({', '.join(missing)}): "
            "retrain (cvw train) after changing customer_features."
        )
    revenue, churn = predict_customers(frame, boosters, metadata)
    scores = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].astype(str).to_numpy(),
            "as_of_date": frame["cutoff_date"].dt.date.to_numpy(),
            "churn_probability": churn,
            "predicted_revenue": revenue,
        }
    )
    scores["value_tier"] = value_tiers(
        scores["predicted_revenue"].to_numpy(), scores["customer_id"].to_numpy()
    )
    scores["model_version"] = version
    scores["scored_at"] = datetime.now(UTC).replace(tzinfo=None)
    return scores


def write_scores(con, scores: pd.DataFrame, as_of_date: date) -> int:
    """Replace the score rows of one as-of date in a single transaction; return the rows written."""
    con.execute("create schema if not exists scores")
    con.execute(SCORES_DDL)
    con.register("new_scores", scores)
    try:
        con.execute("begin transaction")
        con.execute("delete from scores.customer_scores where as_of_date = ?", [as_of_date])
        con.execute(
            """
            insert into scores.customer_scores
            select customer_id, as_of_date, churn_probability, predicted_revenue, value_tier,
                model_version, scored_at
            from new_scores
            """
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("new_scores")
    return len(scores)


def score_customers(as_of_date: date | None = None, warehouse_path: Path | None = None) -> int:
    """Score every customer with an order before the scoring date; return the number of rows written."""
    settings = get_settings()
    version, boosters, metadata = load_champion(settings.artifacts_dir)
    with connect(warehouse_path) as con:
        as_of_date = as_of_date or settings.as_of_date or scoring_date(con)
        scores = predict_scores(load_scoring_frame(con, as_of_date), boosters, metadata, version)
        return write_scores(con, scores, as_of_date)
