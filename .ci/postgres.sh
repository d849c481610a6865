#!/usr/bin/env bash
# PostgreSQL + PostGIS for the PostGIS backend's tests and benchmarks, from Debian's
# packages, listening on loopback only. Idempotent: installs what is missing, starts the
# cluster when it is down, creates the role and database when absent.
# Prints the database URL the tests use (QPV_TEST_POSTGIS) on its last line.
#
#   bash .ci/postgres.sh                 database QPV_PG_DB (default qpv_test: the benchmarks' cache)
#   bash .ci/postgres.sh --drop NAME     drop the database NAME (its sessions are ended first)
#   bash .ci/postgres.sh --drop-stale    drop the per-run test databases of .ci/test.sh
#                                        (qpv_test_<epoch>_<pid>_<n>) older than a day: runs killed
#                                        before they could drop theirs
set -euo pipefail
PGVER="${PGVER:-15}"
DB="${QPV_PG_DB:-qpv_test}"
ROLE="${QPV_PG_ROLE:-qpv}"
PASS="${QPV_PG_PASSWORD:-qpv}"
PORT="${QPV_PG_PORT:-5432}"

if [ "$(id -u)" -ne 0 ]; then
  echo "Run as root to install and start PostgreSQL (or set QPV_TEST_POSTGIS to an existing database)." >&2
  exit 1
fi
psql_su() { su postgres -c "psql -v ON_ERROR_STOP=1 -qAt -p $PORT $*"; }
valid_name() { [[ "$1" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || { echo "invalid database name: $1" >&2; exit 2; }; }
valid_name "$DB"

case "${1:-}" in
  --drop)
    valid_name "${2:?--drop needs a database name}"
    psql_su "-d postgres -c \"DROP DATABASE IF EXISTS $2 WITH (FORCE)\""
    exit 0 ;;
  --drop-stale)
    cutoff=$(( $(date +%s) - 86400 ))
    for name in $(psql_su "-d postgres -c \"SELECT datname FROM pg_database WHERE datname LIKE 'qpv_test_%'\""); do
      if [[ "$name" =~ ^qpv_test_([0-9]{10})_[0-9]+_[0-9]+$ ]] && [ "${BASH_REMATCH[1]}" -lt "$cutoff" ]; then
        echo "dropping stale test database $name" >&2
        psql_su "-d postgres -c \"DROP DATABASE IF EXISTS $name WITH (FORCE)\""
      fi
    done
    exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--drop NAME | --drop-stale]" >&2; exit 2 ;;
esac

export DEBIAN_FRONTEND=noninteractive
need=()
dpkg -s "postgresql-$PGVER" >/dev/null 2>&1 || need+=("postgresql-$PGVER")
dpkg -s "postgresql-$PGVER-postgis-3" >/dev/null 2>&1 || need+=("postgresql-$PGVER-postgis-3")
command -v wrk >/dev/null 2>&1 || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$PGVER main$"; then
  pg_createcluster "$PGVER" main -p "$PORT" >/dev/null
fi
conf="/etc/postgresql/$PGVER/main"
# loopback only; enough connections for 16 concurrent writers + a web server under load
changed=0
for setting in "listen_addresses = 'localhost'" "max_connections = 200"; do
  if ! grep -qx "$setting" "$conf/postgresql.conf"; then
    echo "$setting" >> "$conf/postgresql.conf"
    changed=1
  fi
done
if ! pg_lsclusters -h | awk -v v="$PGVER" '$1==v && $2=="main" {print $4}' | grep -q online; then
  pg_ctlcluster "$PGVER" main start
elif [ "$changed" -eq 1 ]; then  # started by the package install: apply the settings
  pg_ctlcluster "$PGVER" main restart
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p "$PORT" && break
  sleep 1
done
if [ -z "$(psql_su "-c \"SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'\"")" ]; then
  psql_su "-c \"CREATE ROLE $ROLE LOGIN PASSWORD '$PASS' CREATEDB\""
fi
if [ -z "$(psql_su "-c \"SELECT 1 FROM pg_database WHERE datname = '$DB'\"")" ]; then
  psql_su "-c \"CREATE DATABASE $DB OWNER $ROLE\""
fi
psql_su "-d $DB -c \"CREATE EXTENSION IF NOT EXISTS postgis\""
echo "postgresql://$ROLE:$PASS@127.0.0.1:$PORT/$DB"
