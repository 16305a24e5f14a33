# One image for every fraudstream component: `fraudstream produce | score | train | ...`.
#
#   docker build -t fraudstream:0.1.0 .
#   docker run --rm fraudstream:0.1.0 --help
#
# The virtualenv is built like `make venv` does it: uv (the version the Makefile pins) syncs the
# locked dependencies of uv.lock, here without the dev extra and with the project itself installed
# as a wheel, so the runtime stage needs neither uv nor the sources.

ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm

FROM ${PYTHON_IMAGE} AS build

ARG UV_VERSION=0.13.8
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN pip install --no-cache-dir "uv==${UV_VERSION}"

WORKDIR /src
# The dependencies first (a layer that only changes with the lock file) ...
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project --no-cache
# ... then the project itself.
COPY fraudcore ./fraudcore
COPY fraudstream ./fraudstream
COPY schemas ./schemas
COPY producer ./producer
COPY scorer ./scorer
COPY trainer ./trainer
COPY backtest ./backtest
COPY bench ./bench
COPY chaos ./chaos
RUN uv sync --locked --no-dev --no-editable --no-cache


FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="fraudstream" \
      org.opencontainers.image.description="Streaming fraud scorer: producer, scorer and trainer" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --system --gid 10001 fraudstream \
    && useradd --system --uid 10001 --gid fraudstream --create-home --home-dir /home/fraudstream fraudstream \
    && mkdir -p /var/lib/fraudstream /var/lib/fraudstream-keys/private /var/lib/fraudstream-keys/public \
    && chown fraudstream:fraudstream /var/lib/fraudstream /var/lib/fraudstream-keys/private /var/lib/fraudstream-keys/public \
    && chmod 0700 /var/lib/fraudstream-keys/private

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FRAUD_DATA_DIR=/var/lib/fraudstream

USER 10001:10001
WORKDIR /home/fraudstream

# 6066: the scorer's HTTP server (API, /health, /ready, /metrics); 6070, 6071: the trainer's and
# the producer's /metrics (set FRAUD_METRICS_HOST=0.0.0.0 to reach them from outside).
EXPOSE 6066 6070 6071

ENTRYPOINT ["fraudstream"]
CMD ["--help"]
