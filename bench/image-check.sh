#!/usr/bin/env bash
# image-check against its peers on one generated gzip image, side by side:
# image-check (parallel, verifying, flattening), serial `gzip -dc` of the same
# blobs, and `umoci unpack --rootless`. Prints wall time and peak RSS.
#   bench/image-check.sh [--size 1G] [--layers 8] [--no-umoci]
# Targets: image-check <= 0.5x gzip, <= 0.2x umoci, peak RSS <= 64 MiB at any size.
set -euo pipefail
cd "$(dirname "$0")/.."
size=1G layers=8 umoci=1
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --layers) layers=$2; shift 2 ;;
    --no-umoci) umoci=0; shift ;;
    *) echo "usage: $0 [--size 1G] [--layers 8] [--no-umoci]" >&2; exit 2 ;;
  esac
done
out=bench/out/image-$size
cargo build --release --quiet --bin image-check
if [ ! -f "$out/index.json" ]; then
  echo "generating a $size image with $layers gzip layers in $out ..." >&2
  rm -rf "$out"; python3 bench/gen_image.py "$out" --size "$size" --layers "$layers"
fi
blobs=$(python3 -c "import json,sys; m=json.load(open('$out/blobs/sha256/'+json.load(open('$out/index.json'))['manifests'][0]['digest'][7:])); print(' '.join('$out/blobs/sha256/'+l['digest'][7:] for l in m['layers']))")
compressed=$(du -cb $blobs | tail -1 | cut -f1)
# Warm the page cache so every contender reads from memory.
cat $blobs > /dev/null

read -r ic_wall ic_rss ic_code < <(python3 bench/measure.py target/release/image-check --format json "oci:$out:bench")
[ "$ic_code" -le 1 ] || { echo "image-check failed with exit $ic_code" >&2; exit 1; }
read -r gz_wall gz_rss _ < <(python3 bench/measure.py sh -c "gzip -dc $blobs > /dev/null")
if [ "$umoci" = 1 ]; then
  rm -rf bench/out/bundle
  read -r um_wall um_rss _ < <(python3 bench/measure.py umoci unpack --rootless --image "$out:bench" bench/out/bundle)
  rm -rf bench/out/bundle
fi
echo "image: $size uncompressed in $layers gzip layers, $((compressed >> 20)) MiB compressed, $(nproc) cores"
printf '%-34s %9s %12s\n' "contender" "wall (s)" "peak RSS"
printf '%-34s %9s %9s MiB\n' "image-check (verify+flatten)" "$ic_wall" "$((ic_rss / 1024))"
printf '%-34s %9s %9s MiB\n' "gzip -dc, serial" "$gz_wall" "$((gz_rss / 1024))"
[ "$umoci" = 1 ] && printf '%-34s %9s %9s MiB\n' "umoci unpack --rootless" "$um_wall" "$((um_rss / 1024))"
python3 - "$ic_wall" "$gz_wall" "${um_wall:-0}" "$ic_rss" <<'PY'
import sys
ic, gz, um, rss = map(float, sys.argv[1:])
print(f"image-check / gzip  = {ic/gz:.2f}x (target <= 0.50x)")
if um: print(f"image-check / umoci = {ic/um:.2f}x (target <= 0.20x)")
print(f"image-check peak RSS = {rss/1024:.1f} MiB (target <= 64 MiB)")
PY
