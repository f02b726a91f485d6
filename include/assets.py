"""Airflow assets that chain the DAGs: each names a layer of the warehouse, the model store or the BI copy.

ingest → RAW_TABLES → transform → MARTS → train (when needed) → CHAMPION_MODEL (on a promotion only) → score
→ CUSTOMER_SCORES → publish → SERVING_COPY, BI_MARTS; CUSTOMER_SCORES → monitor → MONITORING
(ml.feature_drift, ml.backtests) → publish again (bi.model_performance shows the backtests).
score also runs on MARTS (new data, same champion) and on its daily timetable.
"""

from airflow.sdk import Asset

RAW_TABLES = Asset(name="warehouse_raw", uri="duckdb://warehouse/raw")
MARTS = Asset(name="warehouse_marts", uri="duckdb://warehouse/marts")
CHAMPION_MODEL = Asset(name="champion_model", uri="file://artifacts/models/champion")
CUSTOMER_SCORES = Asset(name="customer_scores", uri="duckdb://warehouse/scores/customer_scores")
SERVING_COPY = Asset(name="serving_copy", uri="duckdb://serving/bi")
BI_MARTS = Asset(name="warehouse_bi", uri="duckdb://warehouse/bi")
MONITORING = Asset(name="model_monitoring", uri="duckdb://warehouse/ml/monitoring")
