# Sourced by scripts/test: the PostgreSQL tests must run, never be skipped silently. Start the
# local cluster if it is installed but stopped; fail loudly if none can be reached.
PES_TEST_PG_DSN="${PES_TEST_PG_DSN:-postgresql://postgres@127.0.0.1:5432/postgres}"
export PES_TEST_PG_DSN
pg_ready() {
  python - "$PES_TEST_PG_DSN" <<'PY' >/dev/null 2>&1
import asyncio, sys
import asyncpg
async def main() -> None:
    con = await asyncpg.connect(sys.argv[1], timeout=5)
    await con.close()
asyncio.run(main())
PY
}
if ! pg_ready; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "== starting the local PostgreSQL cluster"
    for v in /etc/postgresql/*; do
      pg_ctlcluster --skip-systemctl-redirect "$(basename "$v")" main start || true
    done
    sleep 2
  fi
fi
if ! pg_ready; then
  echo "FATAL: PostgreSQL is not reachable at $PES_TEST_PG_DSN; its tests cannot be skipped." >&2
  echo "       Start it, or point PES_TEST_PG_DSN at one (trust auth, may create databases)." >&2
  exit 1
fi
