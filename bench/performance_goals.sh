#!/bin/bash
# Every figure of the "Where it stands" table (docs/performance/index.md: the performance goals,
# the board's speed among them), one command after another; run it on a machine with nothing else running. Each bench
# prints its ratios; this keeps their output in .data/bench/<name>.log and the load average
# before and after each in .data/bench/index.txt.
#     bash bench/performance_goals.sh
set -u
cd "$(dirname "$0")/.."
out=.data/bench
mkdir -p "$out"
run() {
  name=$1
  shift
  echo "== $name $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/index.txt"
  "$@" >"$out/$name.log" 2>&1
  echo "   rc=$? $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/index.txt"
}
for svc in triage sla-clock escalation notifier; do
  run "consumer-$svc" .venv/bin/python bench/consumer_bench.py --service "$svc" --events 3000 --rounds 3
done
run consumer-board .venv/bin/python bench/consumer_bench.py --service board --events 3000 --rounds 3 --versus sla-clock
run intake .venv/bin/python bench/pipeline_bench.py --intake-only --rounds 3
run preview-startup env N=5 bash bench/preview_startup.sh
run sla .venv/bin/python bench/sla_bench.py --cases 20000
run board-reads .venv/bin/python bench/board_bench.py --reads-only
run pipeline .venv/bin/python bench/pipeline_bench.py --rate 100 --seconds 60 --burst 2000
