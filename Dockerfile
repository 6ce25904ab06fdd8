# Slotlens in one container: web (gunicorn) and worker (huey_consumer), data in /app/instance.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN groupadd --system --gid 10001 slotlens && useradd --system --uid 10001 --gid slotlens --home-dir /app slotlens

COPY requirements.txt .
RUN pip install --requirement requirements.txt

COPY --chown=slotlens:slotlens . .
RUN pybabel compile --directory translations --domain messages
RUN mkdir -p /app/instance && chown slotlens:slotlens /app/instance

USER 10001:10001
VOLUME ["/app/instance"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["./docker-entrypoint.sh"]
CMD ["all"]
