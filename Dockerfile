# Airflow 3 image with the project's locked dependencies (from uv.lock), for docker-compose.yml.
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:root pyproject.toml uv.lock /opt/project-lock/
RUN pip install --no-cache-dir uv==0.13.8 \
 && uv export --frozen --no-dev --no-emit-project --project /opt/project-lock -o /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt
