#!/usr/bin/env bash
# counter-postgres against pgbench, on one private cluster made as counter-postgres makes its own (initdb, a Unix
# socket in a fresh directory, fsync off), with the same statements: `atomic` (UPDATE ... SET v = v + 1) and
# `racy` (BEGIN; SELECT v; UPDATE ... SET v = <read + 1>; COMMIT), 5 clients x 2000 transactions, one client
# thread each side, interleaved over ROUNDS rounds. Prints each round's transactions per second and each side's
# client CPU (user + system, the whole program) per transaction, with the ratios counter-postgres / pgbench. A
# benchmark, not a test: CI does not run it.
# Usage: docs/postgres/bench.sh [ROUNDS]   (from the workspace root; as root, the server runs as `postgres`)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
clients=5
per_client=2000
bindir=$(pg_config --bindir 2>/dev/null || true)
[ -x "$bindir/initdb" ] || bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
cargo build --release --quiet -p counter-postgres
ours=target/release/counter-postgres
dir=$(mktemp -d /tmp/counter-postgres-bench-XXXXXX)
as_owner=()
if [ "$(id -u)" = 0 ]; then
    chown postgres: "$dir"
    as_owner=(setpriv --reuid=postgres --regid=postgres --clear-groups)
fi
stop() {
    "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop EXIT
"${as_owner[@]}" "$bindir/initdb" -D "$dir/data" --auth=trust --username=counter --no-sync --no-instructions >/dev/null
"${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start -o \
    "-k $dir -c listen_addresses= -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null
psql=(psql -X -q -h "$dir" -U counter -d postgres)
"${psql[@]}" -c "CREATE TABLE c (shard integer PRIMARY KEY, v bigint NOT NULL, version bigint NOT NULL);
                 INSERT INTO c VALUES (0, 0, 0)"
printf 'UPDATE c SET v = v + 1 WHERE shard = 0;\n' >"$dir/atomic.sql"
printf 'BEGIN;\nSELECT v FROM c WHERE shard = 0 \\gset\nUPDATE c SET v = :v + 1 WHERE shard = 0;\nCOMMIT;\n' \
    >"$dir/racy.sql"
chmod a+r "$dir"/*.sql
echo "# $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD), on $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $("$bindir/postgres" --version)"
echo "# $clients clients x $per_client transactions; pgbench -n -c $clients -j 1 -M prepared; $ours --workers $clients --work none"
printf '%-7s %-6s %12s %12s %7s %14s %14s %7s\n' round sync pgbench_tps ours_tps ratio pgbench_cpu_us ours_cpu_us ratio
total=$((clients * per_client))
for round in $(seq "$rounds"); do
    for sync in atomic racy; do
        # Each side's client CPU (user + system) over the whole program, its connections included, per transaction.
        read -r theirs theirs_cpu < <(
            { /usr/bin/time -f 'cpu %U %S' pgbench -n -h "$dir" -U counter -c "$clients" -j 1 -M prepared -t "$per_client" \
                -f "$dir/$sync.sql" postgres; } 2>&1 |
                awk '/^tps = / { tps = $3 } /^cpu / { cpu = $2 + $3 } END { print tps, cpu }'
        )
        read -r mine mine_cpu < <(
            "$ours" --postgres "host=$dir user=counter dbname=postgres" --workers "$clients" --increments "$per_client" \
                --work none --sync "$sync" --format json |
                python3 -c 'import json, sys; r = json.load(sys.stdin); print(sum(w["increments_done"] for w in r["workers"]) / r["wall_time_s"], r["cpu"]["user_s"] + r["cpu"]["sys_s"])'
        )
        python3 -c "
t, m, tc, mc = $theirs, $mine, $theirs_cpu * 1e6 / $total, $mine_cpu * 1e6 / $total
print('%-7s %-6s %12.0f %12.0f %7.2f %14.1f %14.1f %7.2f' % ('$round', '$sync', t, m, m / t, tc, mc, mc / tc))"
    done
done
