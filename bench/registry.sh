#!/usr/bin/env bash
# image-check against a loopback registry (Debian's docker-registry), side by side
# with skopeo on the same image:
#   cold:  image-check with an empty layer cache  vs  `skopeo copy docker://… dir:`
#   warm:  image-check of a second tag differing only in its top layer, with the
#          cache the cold run filled
# and image-check's peak RSS and binary size.
#   bench/registry.sh [--size 1G] [--layers 8]
# Targets: cold <= 1.2x skopeo, warm <= 0.1x cold, peak RSS <= 64 MiB, binary <= 15 MiB.
# Loopback only: the registry listens on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
size=1G layers=8
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --layers) layers=$2; shift 2 ;;
    *) echo "usage: $0 [--size 1G] [--layers 8]" >&2; exit 2 ;;
  esac
done
out=bench/out/image-$size
cargo build --release --quiet --bin image-check
if [ ! -f "$out/index.json" ]; then
  echo "generating a $size image with $layers gzip layers in $out ..." >&2
  rm -rf "$out"; python3 bench/gen_image.py "$out" --size "$size" --layers "$layers"
fi
python3 bench/retag.py "$out"
work=$(mktemp -d)
trap 'kill $reg 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/config.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/storage
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$work/config.yml" >/dev/null 2>&1 & reg=$!
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
for tag in bench bench2; do
  skopeo copy --quiet --dest-tls-verify=false "oci:$out:$tag" "docker://127.0.0.1:$port/bench:$tag"
done
ref=docker://127.0.0.1:$port/bench
ic=target/release/image-check
read -r cold_wall cold_rss cold_code < <(python3 bench/measure.py $ic --insecure-http --quiet --cache-dir "$work/cache" "$ref:bench")
[ "$cold_code" -le 1 ] || { echo "image-check failed with exit $cold_code" >&2; exit 1; }
read -r warm_wall warm_rss warm_code < <(python3 bench/measure.py $ic --insecure-http --quiet --cache-dir "$work/cache" "$ref:bench2")
[ "$warm_code" -le 1 ] || { echo "warm image-check failed with exit $warm_code" >&2; exit 1; }
read -r sk_wall sk_rss _ < <(python3 bench/measure.py skopeo copy --quiet --src-tls-verify=false "$ref:bench" "dir:$work/skopeo")
bin=$(stat -c %s $ic)
echo "image: $size uncompressed in $layers gzip layers on a loopback registry, $(nproc) cores"
printf '%-44s %9s %12s\n' "contender" "wall (s)" "peak RSS"
printf '%-44s %9s %9s MiB\n' "image-check, cold (empty layer cache)" "$cold_wall" "$((cold_rss / 1024))"
printf '%-44s %9s %9s MiB\n' "image-check, warm (new top layer only)" "$warm_wall" "$((warm_rss / 1024))"
printf '%-44s %9s %9s MiB\n' "skopeo copy docker:// dir:" "$sk_wall" "$((sk_rss / 1024))"
python3 - "$cold_wall" "$warm_wall" "$sk_wall" "$cold_rss" "$warm_rss" "$bin" <<'PY'
import sys
cold, warm, sk, crss, wrss, binsize = map(float, sys.argv[1:])
print(f"cold / skopeo        = {cold/sk:.2f}x (target <= 1.20x)")
print(f"warm / cold          = {warm/cold:.3f}x (target <= 0.10x)")
print(f"peak RSS             = {max(crss, wrss)/1024:.1f} MiB (target <= 64 MiB)")
print(f"image-check binary   = {binsize/2**20:.1f} MiB (target <= 15 MiB; release build, glibc)")
PY
