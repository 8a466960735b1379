#!/usr/bin/env python3
"""Render an HTML report in headless Chromium and check that it really drew
what it should, not just that the file exists.

    render_check.py REPORT.html --png OUT.png [--expect-bars N] [--expect-rows N]
                    [--bar-class REGEX] [--expect-fail]

Two looks at the page, both from Chromium:
  1. the DOM after loading (--dump-dom): the Gantt chart (an <svg> inside
     id="gantt") has at least N bars (<rect> whose first class matches
     --bar-class, by default the scheduler's "run" and "build" bars),
     and the result table (id="results") has at least N body rows;
  2. a screenshot (--screenshot): decoded here (PNG, zlib), it must show the
     chart's bar colours (the CSS custom properties --pass and --fail of the
     report, read from the HTML) over a real area, and not be a blank page;
     with --expect-fail the --fail colour must be drawn too.
Exit 0 when every check passes; otherwise 1 with what is missing. Exit 77
when Chromium is not installed (the caller turns that into a skip).
"""
import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--force-device-scale-factor=1"]


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_chromium(exe, args, timeout):
    profile = tempfile.mkdtemp(prefix="hil-chromium-")
    try:
        return subprocess.run([exe] + FLAGS + ["--user-data-dir=" + profile] + args, capture_output=True,
                              timeout=timeout, text=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def png_pixels(path):
    """RGB(A) rows of an 8-bit PNG (colour type 2 or 6), as bytes per row."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            if depth != 8 or ctype not in (2, 6):
                raise ValueError("unexpected PNG format: depth %d, colour type %d" % (depth, ctype))
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def hex_colour(css, name):
    m = re.search(r"--%s\s*:\s*#([0-9a-fA-F]{6})" % re.escape(name), css)
    return tuple(int(m.group(1)[k:k + 2], 16) for k in (0, 2, 4)) if m else None


def count_colour(rows, bpp, rgb, tol=24):
    n = 0
    for row in rows:
        for x in range(0, len(row), bpp):
            if abs(row[x] - rgb[0]) <= tol and abs(row[x + 1] - rgb[1]) <= tol and abs(row[x + 2] - rgb[2]) <= tol:
                n += 1
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report")
    ap.add_argument("--png", required=True)
    ap.add_argument("--expect-bars", type=int, default=1)
    ap.add_argument("--expect-rows", type=int, default=1)
    ap.add_argument("--bar-class", default="run|build")
    ap.add_argument("--expect-fail", action="store_true")
    ap.add_argument("--size", default="1400,1000")
    args = ap.parse_args()
    exe = chromium()
    if not exe:
        print("chromium is not installed (apt-get install chromium)")
        return 77
    url = "file://" + os.path.abspath(args.report)
    html = open(args.report, encoding="utf-8").read()
    problems = []

    dom = run_chromium(exe, ["--dump-dom", url], 60).stdout.decode("utf-8", "replace")
    gantt = re.search(r'id="gantt".*?</svg>', dom, re.S)
    bars = len(re.findall(r'<rect[^>]*class="(?:%s)\b' % args.bar_class, gantt.group(0))) if gantt else 0
    table = re.search(r'<table[^>]*id="results".*?</table>', dom, re.S)
    rows = len(re.findall(r"<tr", table.group(0))) - 1 if table else 0
    if bars < args.expect_bars:
        problems.append("the Gantt chart has %d bars, expected at least %d" % (bars, args.expect_bars))
    if rows < args.expect_rows:
        problems.append("the result table has %d rows, expected at least %d" % (rows, args.expect_rows))

    shot = run_chromium(exe, ["--screenshot=" + os.path.abspath(args.png), "--window-size=" + args.size, url], 60)
    if not os.path.exists(args.png):
        problems.append("chromium wrote no screenshot: %s" % shot.stderr.decode("utf-8", "replace")[-500:])
        width = height = 0
    else:
        width, height, bpp, pixels = png_pixels(args.png)
        total = width * height
        background = count_colour(pixels, bpp, (255, 255, 255), 6)
        if total - background < total // 50:
            problems.append("the screenshot is (almost) blank: %d of %d pixels are not white" % (total - background, total))
        for name in ("pass", "fail"):
            rgb = hex_colour(html, name)
            if rgb is None:
                problems.append("the report defines no --%s colour" % name)
                continue
            seen = count_colour(pixels, bpp, rgb)
            print("render_check: %d pixels of the --%s colour #%02x%02x%02x" % ((seen,) + (name,) + rgb))
            if (name == "pass" or args.expect_fail) and seen < 200:
                problems.append("no bar in the --%s colour was drawn (%d pixels)" % (name, seen))
    print("render_check: %s: %d bars, %d result rows, screenshot %dx%d" % (args.report, bars, rows, width, height))
    for p in problems:
        print("render_check: FAIL: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
