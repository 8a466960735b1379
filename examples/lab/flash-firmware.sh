#!/bin/sh
# A simulated flasher for the demo lab: "flashes" image $1 onto board $2
# (the board's flash memory is a file its simulator boots from). Real labs
# put openocd, st-flash, picotool or esptool here.
set -eu
image=$1
board=$2
dir=${HIL_DEMO_LAB:-build/demo/lab}
[ -f "$image" ] || { echo "flash-firmware: no image $image (was it built?)" >&2; exit 1; }
mkdir -p "$dir"
sleep 0.2   # writing flash takes a moment
cp "$image" "$dir/$board.flash"
echo "flashed $(cat "$image") onto $board"
