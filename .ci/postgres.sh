#!/usr/bin/env bash
# Starts a throwaway PostgreSQL on 127.0.0.1:55432 for the store conformance tests and
# prints the URL to use as GARM_TEST_POSTGRES_URL. Idempotent.
set -euo pipefail
PGPORT=55432
PGDATA=${GARM_PGDATA:-/tmp/garm-rs-pgdata}
if ! command -v initdb >/dev/null 2>&1; then
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  export PATH="$bin:$PATH"
fi
if ! command -v initdb >/dev/null 2>&1; then
  echo "postgresql is not installed" >&2
  exit 1
fi
id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
if ! pg_isready -q -h 127.0.0.1 -p "$PGPORT" 2>/dev/null; then
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    rm -rf "$PGDATA"
    mkdir -p "$PGDATA"
    chown postgres "$PGDATA"
    runuser -u postgres -- initdb -D "$PGDATA" -A trust -U postgres >/dev/null
  fi
  runuser -u postgres -- pg_ctl -D "$PGDATA" -l "$PGDATA/server.log" \
    -o "-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" -w start >/dev/null
fi
echo "postgres://postgres@127.0.0.1:$PGPORT/postgres"
