#!/usr/bin/env bash
# HTTP1 (http.rs): the hyper server (HTTP1S) and the pooled hyper client (HTTP1C) on anyio
# beside the same written natively on tokio with hyper-util, interleaved: in each round every
# runtime does one run of each side in a fresh process. hyper has no native smol glue, so
# anyio on smol is compared with native tokio of the same thread count (smol-1 with
# tokio-ct, smol-2 with tokio-mt). Prints a markdown table of medians and ratios, for the
# wall-clock rate and for the requests per CPU second of the side measured.
#
#   anyio-bench/http.sh          # builds anyio-bench first (into $CARGO_TARGET_DIR if set)
#   env: ROUNDS=5 WARMUP=1 REPS=1 RAW=/tmp/anyio-http.tsv BIN=path/to/anyio-bench
set -euo pipefail
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-1}
REPS=${REPS:-1}
RAW=${RAW:-/tmp/anyio-http.tsv}
if [ -z "${BIN:-}" ]; then
  workspace="$(cd "$(dirname "$0")/.." && pwd)"
  (cd "$workspace" && cargo build --release --quiet -p anyio-bench)
  target_dir=${CARGO_TARGET_DIR:-target}
  case "$target_dir" in /*) ;; *) target_dir="$workspace/$target_dir" ;; esac
  BIN="$target_dir/release/anyio-bench"
fi
RUNTIMES="anyio-tokio-mt tokio-mt anyio-tokio-ct tokio-ct anyio-smol-1 anyio-smol-2"
: > "$RAW"
for round in $(seq "$ROUNDS"); do
  echo "http: round $round/$ROUNDS" >&2
  for w in HTTP1S HTTP1C; do
    for rt in $RUNTIMES; do
      "$BIN" "$rt" "$w" --reps "$REPS" --warmup "$WARMUP" >> "$RAW"
    done
  done
done

awk -v rounds="$ROUNDS" -v reps="$REPS" '
  function median(key,   n, i, j, t, a) {
    n = split(vals[key], a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { vals[$2 "," $1] = vals[$2 "," $1] ($2 "," $1 in vals ? " " : "") $3; unit[$1] = $4 }
  END {
    printf "Median of %d runs; ratio = anyio / native.\n\n", rounds * reps
    print "| workload | unit | anyio runtime | native | anyio | native | anyio / native |"
    print "|---|---|---|---|---:|---:|---:|"
    split("HTTP1S HTTP1S-cpu HTTP1C HTTP1C-cpu", ws, " ")
    split("anyio-tokio-mt:tokio-mt anyio-tokio-ct:tokio-ct anyio-smol-1:tokio-ct anyio-smol-2:tokio-mt", ps, " ")
    for (i = 1; i <= 4; i++) for (j = 1; j <= 4; j++) {
      split(ps[j], p, ":"); w = ws[i]; a = median(p[1] "," w); n = median(p[2] "," w)
      printf "| %s | %s | %s | %s | %.4g | %.4g | %.2f× |\n", w, unit[w], p[1], p[2], a, n, a / n
    }
  }' "$RAW"
echo "raw: $RAW" >&2
