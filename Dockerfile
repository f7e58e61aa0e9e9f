# The tiktok-top10 image: the official Airflow image plus Chromium (the crawler drives it through Playwright)
# and the project's Python requirements. docker-compose.yaml builds it once for every Airflow service.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}
ARG AIRFLOW_VERSION

USER root
# Debian's Chromium (Playwright launches it via TIKTOK_TOP10_CHROMIUM); CJK fonts so Korean captions render
# in failure screenshots.
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium fonts-noto-cjk \
 && apt-get autoremove -yqq --purge \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

USER airflow
COPY --chown=airflow:0 requirements.txt pyproject.toml README.md /opt/tiktok-top10/
COPY --chown=airflow:0 include /opt/tiktok-top10/include
# Pinning apache-airflow alongside the requirements keeps pip from up- or downgrading the image's Airflow.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /opt/tiktok-top10/requirements.txt \
 && pip install --no-cache-dir --no-deps /opt/tiktok-top10

ENV TIKTOK_TOP10_CHROMIUM=/usr/bin/chromium \
    TIKTOK_TOP10_DATA_ROOT=/opt/airflow/data \
    TIKTOK_TOP10_MODELS_DIR=/opt/airflow/models
