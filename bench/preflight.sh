#!/usr/bin/env bash
# preflight on a healthy setup: loopback PostgreSQL 15 with TLS (verify-full) and
# moto S3. Prints the median of N runs for: all probes, each probe alone (so the
# concurrency overhead is all - slowest), time from start to exec, peak RSS, and
# the stripped release binary's size.
#   bench/preflight.sh [-n RUNS]
# Targets: overhead <= 50 ms, binary <= 15 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=15
[ "${1:-}" = "-n" ] && runs=$2
cargo build --release --quiet --bin preflight
bin=$PWD/target/release/preflight
work=$(mktemp -d /tmp/shipcheck-bench-XXXXXX)
chmod 755 "$work"
pgbin=/usr/lib/postgresql/15/bin
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
s3port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
  as_pg "$pgbin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  [ -n "${moto_pid:-}" ] && kill "$moto_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Certificates: a CA and a server certificate for localhost.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/ca.key" -out "$work/ca.pem" -subj /CN=bench-ca -days 2 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$work/server.key" -out "$work/server.csr" -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$work/san.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -out "$work/server.crt" -days 2 -extfile "$work/san.ext" 2>/dev/null

mkdir "$work/data"; [ "$(id -u)" = 0 ] && chown postgres "$work/data"
as_pg "$pgbin/initdb" -D "$work/data" -U postgres --auth=trust --no-sync >/dev/null
cp "$work/server.crt" "$work/server.key" "$work/data/"; chmod 600 "$work/data/server.key"
[ "$(id -u)" = 0 ] && chown -R postgres "$work/data"
cat >> "$work/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work/data'
ssl = on
fsync = off
CONF
printf 'local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n' > "$work/data/pg_hba.conf"
as_pg "$pgbin/pg_ctl" -D "$work/data" -l "$work/data/log" -w start >/dev/null
psql -X -q -h "$work/data" -p "$port" -U postgres -c "CREATE ROLE app LOGIN PASSWORD 'bench'" -c "CREATE DATABASE app OWNER app"

moto_server -H 127.0.0.1 -p "$s3port" >/dev/null 2>&1 & moto_pid=$!
until python3 -c "import socket; socket.create_connection(('127.0.0.1',$s3port),0.2)" 2>/dev/null; do sleep 0.05; done
curl -s -X PUT "http://127.0.0.1:$s3port/bench-bucket" >/dev/null

export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$s3port AWS_EC2_METADATA_DISABLED=true
db="postgresql://app:bench@localhost:$port/app?sslmode=verify-full&sslrootcert=$work/ca.pem"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
measure() { # prints wall seconds of each run
  for _ in $(seq "$runs"); do python3 bench/measure.py env "$@" | awk '{print $1}'; done
}
all=$(measure DATABASE_URL="$db" S3_BUCKET_NAME=bench-bucket "$bin" --check-only | median)
pg=$(measure DATABASE_URL="$db" "$bin" --check-only | median)
s3=$(measure S3_BUCKET_NAME=bench-bucket "$bin" --check-only | median)
rss=$(for _ in $(seq 5); do DATABASE_URL="$db" S3_BUCKET_NAME=bench-bucket python3 bench/measure.py "$bin" --check-only | awk '{print $2}'; done | sort -n | tail -1)
# Time from start to exec: the exec'ed `date` prints when it started.
to_exec=$(for _ in $(seq "$runs"); do
  python3 - "$bin" "$db" <<'PY'
import os, subprocess, sys, time
env = dict(os.environ, DATABASE_URL=sys.argv[2], S3_BUCKET_NAME="bench-bucket")
t0 = time.time_ns()
out = subprocess.run([sys.argv[1], "--", "date", "+%s%N"], env=env, capture_output=True, text=True).stdout
print((int(out.strip()) - t0) / 1e9)
PY
done | median)
size=$(stat -c %s "$bin")
printf '%-40s %10s\n' "measure (median of $runs)" "value"
printf '%-40s %9.1f ms\n' "all probes (postgres TLS + s3)" "$(echo "$all*1000" | bc -l)"
printf '%-40s %9.1f ms\n' "postgres alone" "$(echo "$pg*1000" | bc -l)"
printf '%-40s %9.1f ms\n' "s3 alone" "$(echo "$s3*1000" | bc -l)"
slow=$(printf '%s\n%s\n' "$pg" "$s3" | sort -n | tail -1)
printf '%-40s %9.1f ms (target <= 50 ms)\n' "overhead: all - slowest alone" "$(echo "($all-$slow)*1000" | bc -l)"
printf '%-40s %9.1f ms\n' "start to exec (all probes)" "$(echo "$to_exec*1000" | bc -l)"
printf '%-40s %9.1f MiB\n' "peak RSS (max of 5)" "$(echo "$rss/1024" | bc -l)"
printf '%-40s %9.1f MiB (target <= 15 MiB)\n' "stripped release binary" "$(echo "$size/1048576" | bc -l)"
