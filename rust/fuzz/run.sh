#!/usr/bin/env bash
# `make fuzz`: runs every fuzz target for FUZZ_SECONDS (default 60) from the checked-in corpus
# and fails if any of them crashes, hangs or runs out of memory.
#
# Works on the stable toolchain: `--sanitizer none` is the one cargo-fuzz mode that passes no
# `-Z` flag to rustc (sancov instrumentation and libFuzzer itself are stable). The targets are
# safe Rust, so AddressSanitizer would add cost without finding more than panics do.
# Each target runs on a copy of its corpus in rust/fuzz/run/ (gitignored), so the checked-in
# corpus is never written to; a crashing input lands in rust/fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${FUZZ_SECONDS:-60}"
targets=(h1_head h1_body router mesh_headers ws_reader h2_frames auth_token)
fuzz_dir=rust/fuzz
scratch="$fuzz_dir/run"
export PATH="$HOME/.cargo/bin:$PATH"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz into ~/.cargo/bin"
    cargo install cargo-fuzz --locked --quiet --root "$HOME/.cargo"
fi
flags=(--fuzz-dir "$fuzz_dir" --sanitizer none)

build_start=$(date +%s)
nice -n 10 cargo fuzz build "${flags[@]}"
echo "built ${targets[*]} in $(($(date +%s) - build_start)) s"

failed=()
for t in "${targets[@]}"; do
    work="$scratch/$t"
    log="$scratch/$t.log"
    rm -rf "$work"
    mkdir -p "$work"
    cp "$fuzz_dir/corpus/$t"/* "$work/"
    dict="$fuzz_dir/dict/h1.dict"
    [[ $t == router ]] && dict="$fuzz_dir/dict/router.dict"
    [[ $t == ws_reader ]] && dict="$fuzz_dir/dict/ws.dict"
    [[ $t == auth_token ]] && dict="$fuzz_dir/dict/jwt.dict"
    start=$(date +%s)
    # -timeout: an input that takes over 10 s is a hang, reported like a crash.
    if nice -n 10 cargo fuzz run "${flags[@]}" "$t" "$work" -- \
        -max_total_time="$seconds" -timeout=10 -dict="$dict" -print_final_stats=1 \
        >"$log" 2>&1; then
        status="no crash"
    else
        status="FAILED (log: $log)"
        failed+=("$t")
    fi
    elapsed=$(($(date +%s) - start))
    execs=$(grep -a -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    rate=$(grep -a -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    inputs=$(find "$work" -type f | wc -l)
    echo "$t: ran ${elapsed} s, ${execs:-?} execs (${rate:-?}/s), corpus ${inputs} inputs, ${status}"
    if [[ $status != "no crash" ]]; then
        grep -a -E "panicked at|^thread '|ERROR: libFuzzer|SUMMARY|Failing input|artifact_prefix|Test unit written" -A2 "$log" | head -40 || true
        tail -n 5 "$log"
    fi
done

if ((${#failed[@]})); then
    echo "fuzz: crashing targets: ${failed[*]}; reproduce with"
    echo "  cargo fuzz run --fuzz-dir $fuzz_dir --sanitizer none TARGET $fuzz_dir/artifacts/TARGET/<file>"
    exit 1
fi
