#!/usr/bin/env bash
# The flake check of the real-browser and concurrency tests: N runs in a row (5 by default)
# while two busy loops load both cores; stops at the first failure. Each run goes through
# .ci/test.sh (a PostgreSQL database of its own, dropped at the end).
#
#   bash .ci/soak.sh [N]        (after `make install-dev`)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-5}"
python3 -c "while True: pass" & load1=$!
python3 -c "while True: pass" & load2=$!
trap 'kill "$load1" "$load2" 2>/dev/null || true' EXIT
for i in $(seq 1 "$N"); do
  t0=$(date +%s)
  QPV_TEST_POSTGIS="" bash .ci/test.sh .venv/bin/python -q -p no:cacheprovider \
    tests/webmap/test_browser.py tests/webmap/test_concurrency.py tests/layers/test_concurrency.py \
    tests/webmap/test_walks_web.py
  echo "soak run $i/$N green in $(( $(date +%s) - t0 )) s (both cores loaded by two busy loops)"
done
