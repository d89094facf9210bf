#!/usr/bin/env bash
# The cost of cancel-scope depth on a checkpoint: W4 (1 000 000 checkpoints in one task)
# against W4d1 and W4d10 (the same loop inside 1 and 10 nested CancelScope::new().run(..),
# no deadline), on each anyio runtime. Prints a markdown table of medians.
#
#   anyio-bench/depth.sh            # from anywhere; builds anyio-bench first
#   env: ROUNDS=5 WARMUP=1 RAW=/tmp/anyio-depth.tsv BIN=path/to/anyio-bench (skips the build)
#
# Runs are interleaved like the anchors' run.sh: in each of $ROUNDS rounds every
# (runtime, workload) cell does one timed run in a fresh process after $WARMUP untimed runs.
set -euo pipefail
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-1}
RAW=${RAW:-/tmp/anyio-depth.tsv}
RUNTIMES="anyio-tokio-mt anyio-tokio-ct anyio-smol-1 anyio-smol-2"
WORKLOADS="W4 W4d1 W4d10"
if [ -z "${BIN:-}" ]; then
  workspace="$(cd "$(dirname "$0")/.." && pwd)"
  (cd "$workspace" && cargo build --release --quiet -p anyio-bench)
  BIN="$workspace/target/release/anyio-bench"
fi
: > "$RAW"
for round in $(seq "$ROUNDS"); do
  echo "depth: round $round/$ROUNDS" >&2
  for rt in $RUNTIMES; do
    for w in $WORKLOADS; do
      "$BIN" "$rt" "$w" --reps 1 --warmup "$WARMUP" >> "$RAW"
    done
  done
done

# Median (and min-max) rate per cell; the slowdown against W4 on the same runtime; and the
# extra time per checkpoint for each scope level, from W4d10 against W4.
awk -v rounds="$ROUNDS" -v runtimes="$RUNTIMES" '
  function median(key,   n, i, j, t, a) {
    n = split(vals[key], a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function span(key,   n, i, a, lo, hi) {
    n = split(vals[key], a, " "); lo = hi = a[1]
    for (i = 2; i <= n; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
    return sprintf("%.2f–%.2f", lo / 1e6, hi / 1e6)
  }
  { vals[$2 "," $1] = vals[$2 "," $1] ($2 "," $1 in vals ? " " : "") $3 }
  END {
    printf "Median of %d runs, M checkpoints/s (min–max in brackets); ratio to W4 on the same runtime.\n\n", rounds
    print "| runtime | W4 | W4d1 | W4d10 | W4d1 / W4 | W4d10 / W4 | ns per scope level per checkpoint |"
    print "|---|---:|---:|---:|---:|---:|---:|"
    n = split(runtimes, rts, " ")
    for (i = 1; i <= n; i++) {
      rt = rts[i]; m0 = median(rt ",W4"); m1 = median(rt ",W4d1"); m10 = median(rt ",W4d10")
      printf "| %s | %.2f (%s) | %.2f (%s) | %.2f (%s) | %.2f× | %.2f× | %.1f |\n", rt,
        m0 / 1e6, span(rt ",W4"), m1 / 1e6, span(rt ",W4d1"), m10 / 1e6, span(rt ",W4d10"),
        m1 / m0, m10 / m0, (1e9 / m10 - 1e9 / m0) / 10
    }
  }' "$RAW"
echo "raw: $RAW" >&2
