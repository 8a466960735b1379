#!/bin/sh
# A simulated firmware build for the demo lab: "compiles" variant $1 into
# image $2. Real labs put `make -C firmware BOARD=...` here.
set -eu
variant=$1
image=$2
case "$variant" in
  rev-b) version=1.4.2 ;;
  rev-c) version=2.0.1 ;;
  *) echo "build-firmware: unknown variant '$variant' (rev-b or rev-c)" >&2; exit 2 ;;
esac
echo "building $variant $version"
sleep 1   # a compiler takes a while; so does this simulation
mkdir -p "$(dirname "$image")"
printf 'HILFW variant=%s version=%s\n' "$variant" "$version" > "$image.tmp"
mv "$image.tmp" "$image"
echo "wrote $image"
