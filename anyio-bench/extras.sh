#!/usr/bin/env bash
# The workloads the anchors do not have, beside their nearest native primitive, measured
# the same way (one process per run, interleaved rounds): W7y (move_on_after around sleep(0);
# natively tokio::time::timeout around yield_now and future::or with async_io::Timer), W1h (W1 with a handle per task,
# each awaited; natively tokio's JoinHandle and smol's Task), W2b0 and W2u (W2 through a
# rendezvous or an unbounded stream; natively a channel of capacity 1 and an unbounded
# channel), SEM (semaphore), EVT (event ping-pong) and LIM (capacity limiter; natively a
# semaphore), TH (to_thread vs spawn_blocking / blocking::unblock), PORT (portal call vs a
# plain thread blocking on a runtime), FSR and FSL (files vs tokio::fs / async-fs), TLS1 and
# TLS2 (TLS echo and handshakes vs tokio-rustls / futures-rustls, one rustls configuration),
# PROC and PCAT (spawn+wait of `true`, 256 MiB through `cat`; vs tokio::process /
# async-process).
# W3y (W3 with AnyIO's default yielding lock) is printed for anyio only: its native
# counterpart is the anchors' W3. Prints a markdown table of medians and ratios.
#
#   anyio-bench/extras.sh           # from anywhere; builds anyio-bench first (into
#                                   # $CARGO_TARGET_DIR if set)
#   env: ROUNDS=5 WARMUP=1 REPS=1 RAW=/tmp/anyio-extras.tsv
#        BIN=path/to/anyio-bench (skips the build)
#        WORKLOADS="TH PORT" (a subset)  PAIRS="tokio-ct tokio-mt" (a subset, in this order)
set -euo pipefail
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-1}
REPS=${REPS:-1}
RAW=${RAW:-/tmp/anyio-extras.tsv}
PAIRS=${PAIRS:-"tokio-mt tokio-ct smol-1 smol-2"}
WORKLOADS=${WORKLOADS:-"W1h W7y W2b0 W2u SEM EVT LIM TH PORT FSR FSL TLS1 TLS2 PROC PCAT W3y"}
if [ -z "${BIN:-}" ]; then
  workspace="$(cd "$(dirname "$0")/.." && pwd)"
  (cd "$workspace" && cargo build --release --quiet -p anyio-bench)
  target_dir=${CARGO_TARGET_DIR:-target}
  case "$target_dir" in /*) ;; *) target_dir="$workspace/$target_dir" ;; esac
  BIN="$target_dir/release/anyio-bench"
fi
: > "$RAW"
for round in $(seq "$ROUNDS"); do
  echo "extras: round $round/$ROUNDS" >&2
  for w in $WORKLOADS; do
    for rt in $PAIRS; do
      for cand in "anyio-$rt" "$rt"; do
        rc=0
        "$BIN" "$cand" "$w" --reps "$REPS" --warmup "$WARMUP" >> "$RAW" || rc=$?
        [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || { echo "failed ($rc): $cand $w" >&2; exit 1; }
      done
    done
  done
done

awk -v pairs="$PAIRS" -v workloads="$WORKLOADS" -v rounds="$ROUNDS" -v reps="$REPS" '
  function median(key,   n, i, j, t, a) {
    n = split(vals[key], a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { vals[$2 "," $1] = vals[$2 "," $1] ($2 "," $1 in vals ? " " : "") $3; unit[$1] = $4 }
  END {
    printf "Median of %d runs, rates per second in the unit shown; ratio = anyio / native.\n\n", rounds * reps
    print "| workload | unit | runtime | anyio | native | anyio / native |"
    print "|---|---|---|---:|---:|---:|"
    nw = split(workloads, ws, " "); np = split(pairs, ps, " ")
    for (i = 1; i <= nw; i++) for (j = 1; j <= np; j++) {
      w = ws[i]; rt = ps[j]; a = median("anyio-" rt "," w)
      if (rt "," w in vals) { n = median(rt "," w); printf "| %s | %s | %s | %.4g | %.4g | %.2f× |\n", w, unit[w], rt, a, n, a / n }
      else printf "| %s | %s | %s | %.4g | %s | |\n", w, unit[w], rt, a, (w == "W3y" ? "(anchors W3)" : "(none)")
    }
  }' "$RAW"
echo "raw: $RAW" >&2
