"""Airflow assets that chain the DAGs: each names a layer of the warehouse or the model store."""

from airflow.sdk import Asset

RAW_TABLES = Asset(name="warehouse_raw", uri="duckdb://warehouse/raw")
MARTS = Asset(name="warehouse_marts", uri="duckdb://warehouse/marts")
CHAMPION_MODEL = Asset(name="champion_model", uri="file://artifacts/models/champion")
CUSTOMER_SCORES = Asset(name="customer_scores", uri="duckdb://warehouse/scores/customer_scores")
