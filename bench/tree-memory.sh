#!/usr/bin/env bash
# Peak RSS of image-check on an image whose one layer holds 2,000,000 entries
# (the README's stated bound: the flattened tree of 2M entries fits in 512 MiB).
# Runs `check` (automatic checks) and `ls /usr/share/p0`, each under /usr/bin/time -v.
# `--through-symlink` writes the entries through a lower layer's symlink, so the
# overlay runtimes' reading is built beside umoci's (the worst case for memory).
# `--pad N` makes every file name N bytes longer.
#   bench/tree-memory.sh [--entries 2000000] [--through-symlink] [--pad N] [--bin target/release/image-check]
set -euo pipefail
cd "$(dirname "$0")/.."
entries=2000000 bin=target/release/image-check link= pad=0
while [ $# -gt 0 ]; do
  case "$1" in
    --entries) entries=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --through-symlink) link=--through-symlink; shift ;;
    --pad) pad=$2; shift 2 ;;
    *) echo "usage: $0 [--entries N] [--through-symlink] [--pad N] [--bin PATH]" >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || cargo build --release --quiet --bin image-check
out=bench/out/wide-$entries${link:+-link}$([ "$pad" = 0 ] || echo "-pad$pad")
if [ ! -f "$out/index.json" ]; then
  echo "generating a layer with $entries entries in $out ..." >&2
  rm -rf "$out"; python3 bench/gen_wide_layer.py "$out" --entries "$entries" --pad "$pad" $link
fi
measure() {
  local what=$1; shift
  local log; log=$(mktemp)
  set +e; /usr/bin/time -v "$bin" "$@" > /dev/null 2> "$log"; local code=$?; set -e
  local rss wall
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
  rm -f "$log"
  printf '%-28s exit %d  wall %8s  peak RSS %7.1f MiB  (%.0f bytes/entry)\n' \
    "$what" "$code" "$wall" "$(echo "$rss / 1024" | bc -l)" "$(echo "$rss * 1024 / $entries" | bc -l)"
}
echo "image-check on $entries entries${link:+ written through a lower symlink}$([ "$pad" = 0 ] || echo ", names $pad bytes longer") ($bin)"
measure "check" "oci:$out:wide"
measure "ls /usr/share/p0" ls "oci:$out:wide" /usr/share/p0
