#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests and benchmarks, in a folder of its own, on a free local port.
#
#   eval "$(Scripts/postgres.sh start /tmp/kiroku-pg)"   # prints the export of KIROKU_TEST_POSTGRES
#   Scripts/postgres.sh stop /tmp/kiroku-pg
#
# Debian's PostgreSQL (apt-get install postgresql); initdb refuses to run as root, so as root the cluster belongs
# to the `postgres` user. Only 127.0.0.1 may connect, as the role `kiroku` (trust: a test cluster, never a hub's).
set -euo pipefail
action=${1:?usage: postgres.sh start|stop DIR}
dir=${2:?usage: postgres.sh start|stop DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "postgres.sh: no PostgreSQL server found under /usr/lib/postgresql (apt-get install postgresql)" >&2
    exit 1
fi
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$action" in
start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bin/initdb" --pgdata="$dir/data" --username=postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log"
    as_owner "$bin/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait \
        --options="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=200" \
        start >/dev/null
    as_owner "$bin/psql" --quiet --host=127.0.0.1 --port="$port" --username=postgres --dbname=postgres \
        --command="CREATE ROLE kiroku LOGIN CREATEDB" --command="CREATE DATABASE kiroku OWNER kiroku" >/dev/null
    echo "export KIROKU_TEST_POSTGRES=postgres://kiroku@127.0.0.1:$port/kiroku"
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bin/pg_ctl" --pgdata="$dir/data" --mode=fast --wait stop >/dev/null
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: postgres.sh start|stop DIR" >&2
    exit 64
    ;;
esac
