#!/usr/bin/env bash
# The README's test command (`make test` runs it): pytest on a PostgreSQL database of its own.
#
#   bash .ci/test.sh PYTHON [PYTEST ARGS...]
#
# Unless QPV_TEST_POSTGIS names a database (then used as it is), .ci/postgres.sh creates a
# database for this run only, qpv_test_<epoch>_<pid>_<n>, and it is dropped when the run
# ends, whatever the outcome (pytest failing or crashing, Ctrl-C, SIGTERM): two runs on one
# machine never share a database. The exit status is pytest's.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${1:?usage: $0 PYTHON [PYTEST ARGS...]}"
shift

run_db=""
drop_run_db() {
  if [ -n "$run_db" ]; then
    bash .ci/postgres.sh --drop "$run_db" \
      || echo "warning: the test database $run_db could not be dropped" >&2
  fi
}
if [ -z "${QPV_TEST_POSTGIS:-}" ]; then
  run_db="qpv_test_$(date +%s)_$$_${RANDOM}"
  trap drop_run_db EXIT  # set before the creation: a half-created database is dropped too
  trap 'exit 130' INT
  trap 'exit 143' TERM
  url="$(QPV_PG_DB="$run_db" bash .ci/postgres.sh | tail -n 1)"
  bash .ci/postgres.sh --drop-stale  # left by runs killed before they could drop theirs
  export QPV_TEST_POSTGIS="$url"
  echo "PostgreSQL test database of this run: $run_db" >&2
fi
export QPV_REQUIRE_POSTGIS=1
# the Redis job queue's tests: a Redis of this run only, unless QPV_TEST_REDIS names one
if [ -z "${QPV_TEST_REDIS:-}" ] && command -v redis-server >/dev/null 2>&1; then
  redis_dir="$(mktemp -d)"
  QPV_TEST_REDIS="$(bash .ci/redis.sh start "$redis_dir")"
  export QPV_TEST_REDIS
  stop_redis() { bash .ci/redis.sh stop "$redis_dir"; rm -rf "$redis_dir"; }
  trap 'stop_redis; drop_run_db' EXIT
fi
export QPV_REQUIRE_REDIS=1
status=0
"$PYTHON" -m pytest "$@" || status=$?
exit "$status"
