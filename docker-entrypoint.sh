#!/bin/sh
# Starts Slotlens in a container. `all`: web and worker together (one container);
# `web` or `worker` alone (scaled out). The schema is brought up to date first.
set -eu

web() {
  exec gunicorn --bind "0.0.0.0:${PORT:-8000}" --workers "${WEB_WORKERS:-2}" --threads 4 \
    --access-logfile - --forwarded-allow-ips "*" "app:create_app()"
}

worker() {
  # SIGTERM (docker stop) is a graceful stop: the task in progress finishes.
  exec huey_consumer worker.huey --workers "${WORKER_THREADS:-2}" --worker-type thread \
    --max-delay 0.5 --graceful-signal TERM
}

case "${1:-all}" in
  all)
    flask --app app upgrade-db
    worker &
    web
    ;;
  web)
    flask --app app upgrade-db
    web
    ;;
  worker)
    worker
    ;;
  *)
    exec "$@"
    ;;
esac
