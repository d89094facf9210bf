#!/usr/bin/env bash
# Cold debug build of a hello-world crate that depends on anyio, beside one that depends on
# tokio with all its features (docs/PERFORMANCE.md, "Build time").
#
#   anyio-bench/buildtime.sh            # 3 interleaved rounds
#   ROUNDS=5 DIR=/tmp/bt anyio-bench/buildtime.sh
#
# anyio is a path dependency here, which cargo compiles incrementally; a dependent that takes
# anyio from crates.io does not, so by default the builds run with CARGO_INCREMENTAL=0, as
# such a dependent's would (tokio is a registry crate and is never incremental). Set
# INCREMENTAL=1 to time the path-dependency build as it is.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${DIR:-/tmp/anyio-buildtime}
ROUNDS=${ROUNDS:-3}
if [ "${INCREMENTAL:-0}" = 0 ]; then export CARGO_INCREMENTAL=0; fi

make_crate() { # name, dependency line
    mkdir -p "$DIR/$1/src"
    printf '[package]\nname = "%s"\nversion = "0.1.0"\nedition = "2024"\n\n[dependencies]\n%s\n' \
        "$1" "$2" > "$DIR/$1/Cargo.toml"
    echo 'fn main() { println!("Hello, world!"); }' > "$DIR/$1/src/main.rs"
    (cd "$DIR/$1" && cargo generate-lockfile -q)
}
make_crate tokiofull 'tokio = { version = "1", features = ["full"] }'
make_crate tokioonly "anyio = { path = \"$ROOT/anyio\", default-features = false, features = [\"tokio\"] }"
make_crate default "anyio = { path = \"$ROOT/anyio\" }"
# Fetch everything first, so no round times a download.
for c in tokiofull tokioonly default; do (cd "$DIR/$c" && cargo fetch -q); done

printf 'round\tcrate\twall_s\tcpu_s\n'
for r in $(seq 1 "$ROUNDS"); do
    for c in tokiofull tokioonly default; do
        rm -rf "$DIR/$c/target"
        out=$( { cd "$DIR/$c" && /usr/bin/time -f '%e %U %S' cargo build -q; } 2>&1 | tail -1)
        read -r wall user sys <<< "$out"
        printf '%s\t%s\t%s\t%.1f\n' "$r" "$c" "$wall" "$(echo "$user + $sys" | bc)"
    done
done
