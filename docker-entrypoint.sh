#!/usr/bin/env bash
# Starts Slotlens in a container. `all`: web and worker together (one container);
# `web` or `worker` alone (scaled out). The schema is brought up to date first.
set -euo pipefail

# Behind the proxy of the compose files: gunicorn trusts forwarded headers
# (scheme, script name) only from FORWARDED_ALLOW_IPS, the proxy's network.
web() {
  exec gunicorn --bind "0.0.0.0:${PORT:-8000}" --workers "${WEB_WORKERS:-2}" --threads 4 \
    --timeout 60 --graceful-timeout 30 --keep-alive 5 \
    --access-logfile - --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}" "app:create_app()"
}

worker() {
  # SIGTERM (docker stop) is a graceful stop: the task in progress finishes.
  exec huey_consumer worker.huey --workers "${WORKER_THREADS:-2}" --worker-type thread \
    --max-delay 0.5 --graceful-signal TERM
}

# One container, two processes. If either one stops, stop the other and exit
# non-zero, so that Docker's restart policy brings both back: a container whose
# worker died must not go on taking export requests nobody will send.
# `docker stop` (SIGTERM) stops both gracefully and exits 0.
web_and_worker() {
  worker &
  local worker_pid=$!
  web &
  local web_pid=$!
  local stopping=0
  trap 'stopping=1; kill -TERM "$worker_pid" "$web_pid" 2>/dev/null || true' TERM INT
  local status=0
  wait -n "$worker_pid" "$web_pid" || status=$?
  if [ "$stopping" -eq 0 ]; then
    local stopped=web
    kill -0 "$worker_pid" 2>/dev/null || stopped=worker
    echo "slotlens: the $stopped process stopped (exit status $status); stopping the container so that it restarts" >&2
    kill -TERM "$worker_pid" "$web_pid" 2>/dev/null || true
  fi
  wait "$worker_pid" "$web_pid" || true
  if [ "$stopping" -eq 1 ]; then
    exit 0
  fi
  exit 1
}

case "${1:-all}" in
  all)
    flask --app app upgrade-db
    web_and_worker
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
