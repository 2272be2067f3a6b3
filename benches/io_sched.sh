#!/bin/bash
# The IO thread's scheduling policy, measured on one running worker (adrs/0016): the server
# pinned to CPU 0, `covetpy bench -c 64 -d 4s` pinned to CPU 1, the `covetpy-io-0` thread set
# to SCHED_OTHER then SCHED_BATCH with chrt between runs, two rounds.
#
#   bash benches/io_sched.sh benches.peers.fastapi_app:app /plaintext
#   bash benches/io_sched.sh benches.apps.covetpy_app:app /plaintext
#
# Prints req/s per policy. Stops the server it started.
set -u
cd "$(dirname "$0")/.."
app=$1 path=$2 port=${PORT:-8931}
taskset -c 0 .venv/bin/covetpy run "$app" --port "$port" > /dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port$path" && break; sleep 0.1; done
sleep 1
worker=$(pgrep -f "covetpy.server.worker" -P "$pid" | head -1)
tid=$(for t in /proc/"$worker"/task/*; do [ "$(cat "$t"/comm)" = covetpy-io-0 ] && basename "$t"; done)
run() {
    taskset -c 1 .venv/bin/covetpy bench -c 64 -d 4s -q "http://127.0.0.1:$port$path" 2>&1 \
        | grep -oE "[0-9,.]+ req/s" | head -1
}
run > /dev/null  # warm-up
for _ in 1 2; do
    chrt -o -p 0 "$tid"; echo "SCHED_OTHER: $(run)"
    chrt -b -p 0 "$tid"; echo "SCHED_BATCH: $(run)"
done
