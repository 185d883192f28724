#!/bin/sh
# Entry point of alexis/postgres: creates the cluster on first start, then
# runs PostgreSQL in the foreground.
#   POSTGRES_USER           superuser to create (default alexis)
#   POSTGRES_DB             database to create (default: the user's name)
#   POSTGRES_PASSWORD_FILE  file holding that user's password (required at first start)
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
user=${POSTGRES_USER:-alexis}
db=${POSTGRES_DB:-$user}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ ! -r "${POSTGRES_PASSWORD_FILE:-}" ]; then
    echo "alexis-postgres: POSTGRES_PASSWORD_FILE must name a readable file" >&2
    exit 1
  fi
  initdb -D "$PGDATA" -U "$user" --pwfile="$POSTGRES_PASSWORD_FILE" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    echo "CREATE DATABASE \"$db\" OWNER \"$user\";" | postgres --single -D "$PGDATA" postgres >/dev/null
  fi
  echo "alexis-postgres: created cluster in $PGDATA (user $user, database $db)"
fi
exec postgres -D "$PGDATA"
