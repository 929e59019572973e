#!/bin/bash
# A streaming replica of `postgres`: cloned with pg_basebackup on first start (-R writes standby.signal and
# primary_conninfo), then served as a hot standby.
set -euo pipefail
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_basebackup -h postgres -U replicator -D "$PGDATA" -R --wal-method=stream --checkpoint=fast; do
    echo "waiting for the primary"; sleep 2
  done
  chmod 700 "$PGDATA"
fi
exec postgres -c hot_standby=on
