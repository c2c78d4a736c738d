#!/usr/bin/env bash
# Container start overhead: time from `buildah run` to the server's first log
# line, for the example app image (examples/node-app) started
#   - through preflight (its ENTRYPOINT: env, secrets, PostgreSQL TLS, S3), and
#   - without preflight (`node dist/index.js` directly),
# beside buildah's own floor (`sh -c 'echo'` in the same container). Median of N.
# Peers on loopback: PostgreSQL 15 with TLS (verify-full against the bundle in
# the image) and moto S3. Images are built as the container tests build them
# (tests/it/support/container.rs): the `shipcheck` stage from static musl
# release binaries (`prebuilt` path), a Node base from the host's node and the
# libraries ldd lists, and the app with node_modules from `npm ci --omit=dev`.
#   bench/container-start.sh [-n RUNS]
# Needs root, buildah, musl-tools and the musl Rust target (.ci/install).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=9
[ "${1:-}" = "-n" ] && runs=$2
root=$PWD
target=x86_64-unknown-linux-musl
CARGO_TARGET_DIR=$root/target/static-release cargo build --release --locked --quiet --bins \
  --target $target --features vendored-openssl
bins=$root/target/static-release/$target/release

work=$(mktemp -d /tmp/shipcheck-bench-ctr-XXXXXX)
chmod 755 "$work"
B=(buildah --root "$work/storage/root" --runroot "$work/storage/run" --storage-driver vfs)
pgbin=/usr/lib/postgresql/15/bin
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); s3port=$(free_port)
cleanup() {
  as_pg "$pgbin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  [ -n "${moto_pid:-}" ] && kill "$moto_pid" 2>/dev/null || true
  "${B[@]}" rm --all >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# Certificates: a CA (the image's "RDS bundle") and a server certificate for localhost.
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

bud() { "${B[@]}" bud --isolation chroot --pull=never --network host -q "$@" >/dev/null; }

# The shipcheck image, `prebuilt` path.
mkdir -p "$work/ship/prebuilt"
cp "$bins/image-check" "$bins/preflight" /etc/ssl/certs/ca-certificates.crt "$work/ship/prebuilt/"
bud -f Dockerfile --build-arg SHIPCHECK_FROM=prebuilt -t localhost/shipcheck:bench "$work/ship"

# A Node base from the host (the official image cannot be pulled here).
nb=$work/node-base
mkdir -p "$nb/rootfs/usr/local/bin" "$nb/rootfs/bin" "$nb/rootfs/usr/bin" "$nb/rootfs/etc"
cp "$(command -v node)" "$nb/rootfs/usr/local/bin/node"
cp "$(command -v sh)" "$nb/rootfs/bin/sh"
cp "$(command -v sha256sum)" "$nb/rootfs/usr/bin/sha256sum"
for b in node sh sha256sum; do ldd "$(command -v $b)"; done | grep -o '/[^ ]*' | sort -u | while read -r lib; do
  mkdir -p "$nb/rootfs$(dirname "$lib")"; cp -L "$lib" "$nb/rootfs$lib"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n' > "$nb/rootfs/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\n' > "$nb/rootfs/etc/group"
printf 'FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nCMD ["node"]\n' > "$nb/Dockerfile"
bud -t localhost/node-host:20 "$nb"

# The app, node_modules from `npm ci --omit=dev` (npm's cache under target/tmp).
app=$work/app
cp -a examples/node-app "$app"
(cd "$app" && npm_config_cache=$root/target/tmp/node-app/npm-cache npm ci --omit=dev --prefer-offline --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
cp "$work/ca.pem" "$app/rds-ca.pem"
bud -t localhost/node-app:bench \
  --build-arg NODE_IMAGE=localhost/node-host:20 --build-arg SHIPCHECK_IMAGE=localhost/shipcheck:bench \
  --build-arg NODE_MODULES_FROM=prebuilt-deps --build-arg RDS_CA_URL=rds-ca.pem \
  --build-arg "RDS_CA_SHA256=$(sha256sum "$app/rds-ca.pem" | cut -d' ' -f1)" "$app"
ctr=$("${B[@]}" from --pull=never localhost/node-app:bench)

export BENCH_ENV="PORT=$(free_port) HOST=127.0.0.1 AWS_REGION=us-east-1 S3_BUCKET_NAME=bench-bucket \
AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=bench AWS_ENDPOINT_URL=http://127.0.0.1:$s3port \
AWS_EC2_METADATA_DISABLED=true DATABASE_URL=postgresql://app:bench@localhost:$port/app?sslmode=verify-full&sslrootcert=/etc/ssl/certs/rds-global-bundle.pem"

# Seconds from spawning `buildah run` to the first stdout line holding MARK; the
# server is then stopped with SIGTERM (its PID is a host PID here).
first_line() { # MARK ARGV...
  python3 - "$@" <<'PY'
import os, signal, subprocess, sys, time
mark, argv = sys.argv[1], sys.argv[2:]
env = []
for kv in os.environ["BENCH_ENV"].split():
    env += ["--env", kv]
cmd = os.environ["BUILDAH"].split("\x1f") + ["run", "--isolation", "chroot", "--network", "host"] + env + [os.environ["CTR"], "--"] + argv
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
for line in p.stdout:
    if mark in line:
        print(f"{time.monotonic() - t0:.4f}")
        if "pid=" in line:
            os.kill(int(line.split("pid=")[1].split()[0]), signal.SIGTERM)
        break
else:
    sys.exit(f"no line with {mark!r}: exit {p.wait()}")
p.wait()
PY
}
export BUILDAH; BUILDAH=$(IFS=$'\x1f'; echo "${B[*]}")
export CTR=$ctr
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
series() { for _ in $(seq "$runs"); do first_line "$@"; done | median; }
floor=$(series hello /bin/sh -c 'echo hello')
# Interleaved, so a busy moment of the machine falls on both series alike.
: > "$work/bare"; : > "$work/with"
for _ in $(seq "$runs"); do
  first_line "listening on" /usr/local/bin/node dist/index.js >> "$work/bare"
  first_line "listening on" /usr/local/bin/preflight -- node dist/index.js >> "$work/with"
done
bare=$(median < "$work/bare")
with=$(median < "$work/with")
"${B[@]}" push -q localhost/shipcheck:bench "oci-archive:$work/shipcheck.tar" >/dev/null
printf '%-52s %9s\n' "buildah run -> first line (median of $runs)" "ms"
printf '%-52s %9.0f\n' "sh -c echo (buildah's own floor)" "$(echo "$floor*1000" | bc -l)"
printf '%-52s %9.0f\n' "node dist/index.js (no preflight)" "$(echo "$bare*1000" | bc -l)"
printf '%-52s %9.0f\n' "preflight -- node dist/index.js (ENTRYPOINT)" "$(echo "$with*1000" | bc -l)"
printf '%-52s %9.0f\n' "preflight's share" "$(echo "($with-$bare)*1000" | bc -l)"
printf '%-52s %9.1f MiB\n' "static release preflight" "$(echo "$(stat -c %s "$bins/preflight")/1048576" | bc -l)"
printf '%-52s %9.1f MiB\n' "static release image-check" "$(echo "$(stat -c %s "$bins/image-check")/1048576" | bc -l)"
printf '%-52s %9.1f MiB\n' "shipcheck image (oci-archive)" "$(echo "$(stat -c %s "$work/shipcheck.tar")/1048576" | bc -l)"
