# syntax=docker/dockerfile:1
# Production image: `leadlink serve` only. Migrations are a separate one-off step
# (`docker compose run --rm migrate` or `leadlink migrate`), never run by the serving container.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md requirements.lock ./
COPY app/__init__.py app/__init__.py
RUN pip install -r requirements.lock
COPY app app
COPY migrations migrations
COPY templates templates
COPY static static
COPY alembic.ini ./
# Editable: the templates and migrations stay in /app next to the code that finds them.
RUN pip install --no-deps -e .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 leadlink \
    && mkdir /data && chown leadlink /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LEADLINK_ENV=production \
    LEADLINK_DATA_DIR=/data \
    LEADLINK_LOG_FORMAT=json
USER leadlink
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["leadlink", "serve", "--host", "0.0.0.0", "--port", "8000"]
