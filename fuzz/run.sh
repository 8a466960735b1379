#!/usr/bin/env bash
# fuzz/run.sh - run the libFuzzer harnesses built by `make fuzz` (docs/fuzzing.md).
#
#   fuzz/run.sh run SECONDS [NAME...]   fuzz each harness for SECONDS on its corpus
#   fuzz/run.sh regress [NAME...]       run each harness once over fuzz/corpus/NAME/*
#
# NAME is a harness without its prefix (target for fuzz/fuzz_target.c); none: all.
# New corpus entries go to $BUILD/fuzz/scratch/NAME (never into fuzz/corpus);
# crashes, leaks, timeouts and out-of-memory inputs to $BUILD/fuzz/artifacts/NAME/.
# Any of those fails the run, naming the harness and the reproducer file.
# Environment: BUILD (build), FUZZ_TIMEOUT (seconds for one input: 10),
# FUZZ_RSS_MB (memory limit: 2048), FUZZ_ARGS (more libFuzzer flags).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
TIMEOUT=${FUZZ_TIMEOUT:-10}
RSS=${FUZZ_RSS_MB:-2048}
mode=${1:-}
shift || true
case "$mode" in
  run) seconds=${1:-}; shift || true
       case "$seconds" in ''|*[!0-9]*) echo "fuzz/run.sh run: SECONDS must be a whole number, not '$seconds'" >&2; exit 2;; esac ;;
  regress) ;;
  *) echo "usage: fuzz/run.sh run SECONDS [NAME...] | fuzz/run.sh regress [NAME...]" >&2; exit 2 ;;
esac

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.c; do n=${f#fuzz/fuzz_}; names+=("${n%.c}"); done
fi

failed=()
for name in "${names[@]}"; do
  bin=$BUILD/fuzz/fuzz_$name
  corpus=fuzz/corpus/$name
  if [ ! -x "$bin" ]; then
    echo "fuzz: $bin is not built (make fuzz builds every harness; is fuzz/fuzz_$name.c there?)" >&2
    failed+=("$name: not built"); continue
  fi
  if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
    echo "fuzz: $corpus is empty: every harness needs seeds (fuzz/seeds.py writes them)" >&2
    failed+=("$name: no corpus"); continue
  fi
  art=$BUILD/fuzz/artifacts/$name
  log=$BUILD/fuzz/logs/$name.$mode.log
  mkdir -p "$art" "$(dirname "$log")"
  rm -f "$art"/*
  dict=(); [ -f "fuzz/$name.dict" ] && dict=(-dict="fuzz/$name.dict")
  common=(-timeout="$TIMEOUT" -rss_limit_mb="$RSS" -malloc_limit_mb="$RSS" -artifact_prefix="$art/" ${FUZZ_ARGS:-})
  if [ "$mode" = run ]; then
    scratch=$BUILD/fuzz/scratch/$name
    mkdir -p "$scratch"
    printf 'fuzz: %-14s %ss ... ' "$name" "$seconds"
    "$bin" "${common[@]}" "${dict[@]}" -max_total_time="$seconds" -print_final_stats=1 "$scratch" "$corpus" >"$log" 2>&1
    rc=$?
  else
    printf 'fuzz: %-14s %s inputs ... ' "$name" "$(ls "$corpus" | wc -l)"
    "$bin" "${common[@]}" "$corpus"/* >"$log" 2>&1
    rc=$?
  fi
  if [ $rc -eq 0 ]; then
    if [ "$mode" = run ]; then
      echo "ok ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs, $(grep -c . <(ls "$scratch")) new corpus entries in $scratch)"
    else
      echo ok
    fi
    continue
  fi
  # What went wrong, and the input that shows it.
  what=$(grep -m1 -o -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [a-z-]+[^(]*|runtime error: .*|fuzz: .*' "$log" | head -1)
  repro=$(ls -t "$art"/* 2>/dev/null | head -1)
  if [ -z "$repro" ] && [ "$mode" = regress ]; then
    repro=$(grep -o 'Running: .*' "$log" | tail -1 | sed 's/^Running: //')
  fi
  echo "FAILED"
  echo "fuzz: harness '$name' failed: ${what:-exit code $rc}"
  echo "fuzz:   reproducer: ${repro:-(none written; see the log)}"
  echo "fuzz:   reproduce:  $bin ${repro:-}"
  echo "fuzz:   log:        $log"
  grep -E '^ *#[0-9]+ .* in ' "$log" | grep -v -E ' in (__sanitizer|__asan|__ubsan|__pthread_kill|raise |abort |fuzzer::|__libc|_start |main )' | head -8 | sed 's/^/fuzz:     /'
  failed+=("$name: ${repro:-see $log}")
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: ${#failed[@]} harness(es) failed:"
  for f in "${failed[@]}"; do echo "fuzz:   $f"; done
  exit 1
fi
echo "fuzz: all ${#names[@]} harnesses passed"
