# Airflow 3 image with the project's locked dependencies (from uv.lock), for docker-compose.yml.
# The project itself is mounted at /opt/project (read-only), so code changes need no rebuild.
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:root pyproject.toml uv.lock /opt/project-lock/
RUN pip install --no-cache-dir uv==0.13.8 \
 && uv export --frozen --no-dev --no-emit-project --project /opt/project-lock -o /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt
# Mount points of the named volumes, writable by the airflow user and group 0 (AIRFLOW_UID:0): a new
# named volume takes the ownership of the folder it is mounted on.
USER root
RUN mkdir -p /opt/warehouse /opt/airflow/auth \
 && chown -R airflow:0 /opt/warehouse /opt/airflow/auth \
 && chmod -R g+rwX /opt/warehouse /opt/airflow/auth
USER airflow
ENV PYTHONPATH=/opt/project \
    DO_NOT_TRACK=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    AIRFLOW__USAGE_DATA_COLLECTION__ENABLED=False \
    SCARF_ANALYTICS=false \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False
