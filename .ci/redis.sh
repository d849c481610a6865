#!/usr/bin/env bash
# A Redis server of this run only, for the tests of the Redis job queue (QPV_TEST_REDIS).
#
#   bash .ci/redis.sh start DIR   starts redis-server on a free loopback port, in memory only
#                                 (no dump, no AOF), files in DIR; prints redis://127.0.0.1:PORT/0
#                                 once it answers PING
#   bash .ci/redis.sh stop DIR    shuts it down
set -euo pipefail
action="${1:?usage: $0 start|stop DIR}"
dir="${2:?usage: $0 start|stop DIR}"
case "$action" in
  start)
    mkdir -p "$dir"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize yes \
      --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null
    echo "$port" > "$dir/port"
    # wait for the state (PING answered), up to a generous deadline
    for _ in $(seq 1 600); do
      if [ "$(redis-cli -p "$port" ping 2>/dev/null || true)" = "PONG" ]; then
        echo "redis://127.0.0.1:$port/0"
        exit 0
      fi
      sleep 0.1
    done
    echo "redis-server did not answer on port $port (see $dir/redis.log)" >&2
    exit 1
    ;;
  stop)
    if [ -f "$dir/port" ]; then
      redis-cli -p "$(cat "$dir/port")" shutdown nosave >/dev/null 2>&1 || true
    fi
    ;;
esac
