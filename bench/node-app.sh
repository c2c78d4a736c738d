#!/usr/bin/env bash
# The app checks' cost on a Node API image with a real ~230 MiB production
# node_modules (bench/node-app: express, @aws-sdk/client-s3, pg, stripe, openai
# and the rest a typical API ships: 186 MiB of files), side by side with serial `gzip -dc` of the
# same blobs: image-check with the node and web checks on, and with
# `[node] enabled = false` / `[web] enabled = false`.
#   bench/node-app.sh [--runs N]
# Target: the two ratios against gzip differ by at most 10 %.
# The node check's own time: warm runs (layer cache filled, so no layer is
# read) with only the node check on, minus warm runs with both checks off.
# The first run installs the app with `npm ci` (npm's registry; the cache stays
# under target/tmp/bench-node); later runs are offline.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=5
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N]" >&2; exit 2 ;;
  esac
done
work=target/tmp/bench-node
out=bench/out/node-app
cargo build --release --quiet --bin image-check
if ! cmp -s bench/node-app/package-lock.json "$work/app/package-lock.json" || [ ! -d "$work/app/node_modules" ]; then
  echo "installing bench/node-app with npm ci into $work/app ..." >&2
  rm -rf "$work/app"; mkdir -p "$work/app"
  cp bench/node-app/package.json bench/node-app/package-lock.json "$work/app/"
  (cd "$work/app" && npm ci --no-audit --no-fund --ignore-scripts --cache ../npm-cache >&2)
  rm -rf "$out"
fi
if [ ! -f "$out/index.json" ]; then
  echo "generating the image in $out ..." >&2
  python3 bench/gen_node_image.py "$work/app" "$out"
fi
blobs=$(python3 -c "import json,sys; m=json.load(open('$out/blobs/sha256/'+json.load(open('$out/index.json'))['manifests'][0]['digest'][7:])); print(' '.join('$out/blobs/sha256/'+l['digest'][7:] for l in m['layers']))")
compressed=$(du -cb $blobs | tail -1 | cut -f1)
cat $blobs > /dev/null
specs=bench/out/node-app-specs
mkdir -p "$specs"
printf '' > "$specs/on.toml"
printf '[web]\nenabled = false\n' > "$specs/node-only.toml"
printf '[node]\nenabled = false\n[web]\nenabled = false\n' > "$specs/off.toml"
ic=target/release/image-check
# The verdict and the node check's detail, once.
"$ic" --no-cache --spec "$specs/on.toml" "oci:$out:bench" | grep -E '^\s+(ok|FAIL|warning|error)|node ' >&2 || true
median() { python3 -c "import sys,statistics; print(f'{statistics.median(map(float, sys.argv[1:])):.3f}')" "$@"; }
wall() { python3 bench/measure.py "$@" | cut -d' ' -f1; }
on=() off=() gz=()
for _ in $(seq "$runs"); do
  # Interleaved, so a busy neighbour slows all three alike.
  on+=("$(wall "$ic" --no-cache --format json --spec "$specs/on.toml" "oci:$out:bench")")
  off+=("$(wall "$ic" --no-cache --format json --spec "$specs/off.toml" "oci:$out:bench")")
  gz+=("$(wall sh -c "gzip -dc $blobs > /dev/null")")
done
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
for s in node-only off; do "$ic" --cache-dir "$cache" --format json --spec "$specs/$s.toml" "oci:$out:bench" > /dev/null || true; done
warm_node=() warm_off=()
for _ in $(seq "$runs"); do
  warm_node+=("$(wall "$ic" --cache-dir "$cache" --format json --spec "$specs/node-only.toml" "oci:$out:bench")")
  warm_off+=("$(wall "$ic" --cache-dir "$cache" --format json --spec "$specs/off.toml" "oci:$out:bench")")
done
m_on=$(median "${on[@]}") m_off=$(median "${off[@]}") m_gz=$(median "${gz[@]}")
m_wn=$(median "${warm_node[@]}") m_wo=$(median "${warm_off[@]}")
nm=$(du -sb "$work/app/node_modules" | cut -f1)
files=$(find "$work/app/node_modules" -type f | wc -l)
echo "image: node_modules $((nm >> 20)) MiB in $files files, $((compressed >> 20)) MiB compressed (3 gzip layers), $(nproc) cores, median of $runs"
printf '%-44s %9s\n' "contender" "wall (s)"
printf '%-44s %9s\n' "image-check, node + web checks on" "$m_on"
printf '%-44s %9s\n' "image-check, [node]/[web] enabled = false" "$m_off"
printf '%-44s %9s\n' "gzip -dc, serial" "$m_gz"
printf '%-44s %9s\n' "warm (cached layers), node check only" "$m_wn"
printf '%-44s %9s\n' "warm (cached layers), both off" "$m_wo"
python3 - "$m_on" "$m_off" "$m_gz" "$m_wn" "$m_wo" <<'PY'
import sys
on, off, gz, wn, wo = map(float, sys.argv[1:])
d = (on / gz) / (off / gz) - 1
print(f"image-check / gzip: {on/gz:.3f}x with the checks, {off/gz:.3f}x without: {d*100:+.1f} % (target within 10 %)")
print(f"node check's own time (warm node-only - warm off): {max(wn - wo, 0)*1000:.0f} ms")
PY
