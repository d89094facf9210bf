#!/usr/bin/env bash
# Two builds of anyio-bench side by side: did a change make anyio faster or slower? Runs
# each workload on each anyio runtime with binary A and binary B, interleaved (in each of
# $ROUNDS rounds every cell runs A then B, each in a fresh process after $WARMUP untimed
# runs), and prints a markdown table of medians and the B/A ratio.
#
#   anyio-bench/ab.sh A_BIN B_BIN [WORKLOAD...]      # default workloads: W1 W4 W7
#   env: ROUNDS=7 WARMUP=1 RAW=/tmp/anyio-ab.tsv
#
# To build the "before" binary, check the old commit out in a worktree and build it with
# its own target directory:
#   git worktree add /tmp/before COMMIT
#   (cd /tmp/before && CARGO_TARGET_DIR=/tmp/before-target cargo build --release -p anyio-bench)
set -euo pipefail
if [ $# -lt 2 ]; then
  sed -n '2,14p' "$0" >&2
  exit 2
fi
A=$1
B=$2
shift 2
WORKLOADS=${*:-W1 W4 W7}
ROUNDS=${ROUNDS:-7}
WARMUP=${WARMUP:-1}
RAW=${RAW:-/tmp/anyio-ab.tsv}
RUNTIMES="anyio-tokio-mt anyio-tokio-ct anyio-smol-1 anyio-smol-2"
: > "$RAW"
for round in $(seq "$ROUNDS"); do
  echo "ab: round $round/$ROUNDS" >&2
  for w in $WORKLOADS; do
    for rt in $RUNTIMES; do
      for side in A B; do
        bin=$A
        [ "$side" = B ] && bin=$B
        "$bin" "$rt" "$w" --reps 1 --warmup "$WARMUP" | awk -v s="$side" '{ print s "\t" $0 }' >> "$RAW"
      done
    done
  done
done

# Each line of RAW: side, workload, runtime, rate, unit, work.
awk -v workloads="$WORKLOADS" -v runtimes="$RUNTIMES" '
  function median(key,   n, i, j, t, a) {
    n = split(vals[key], a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { key = $1 SUBSEP $2 SUBSEP $3; vals[key] = vals[key] " " $4; unit[$2] = $5 }
  END {
    print "| workload | runtime | A (median) | B (median) | B / A |"
    print "|---|---|---|---|---|"
    nw = split(workloads, ws, " "); nr = split(runtimes, rs, " ")
    for (i = 1; i <= nw; i++) for (j = 1; j <= nr; j++) {
      a = median("A" SUBSEP ws[i] SUBSEP rs[j]); b = median("B" SUBSEP ws[i] SUBSEP rs[j])
      printf "| %s | %s | %.3g %s | %.3g %s | %.3f |\n", ws[i], rs[j], a, unit[ws[i]], b, unit[ws[i]], b / a
    }
  }' "$RAW"
