#!/bin/bash
# Start-up of `sla-clock preview --batch` on one case: CPU time (user + sys; less sensitive to a
# loaded machine than wall time), best of N runs, interleaved with `python -c pass` and, with
# BASE=DIR (e.g. `git archive <commit> libs services | tar -x -C DIR`), the same command on that
# checkout's libs/events, libs/calendar and sla-clock.
#     bench/preview_startup.sh                 N=5 BASE=/tmp/before bench/preview_startup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
case_file=$(mktemp)
trap 'rm -f "$case_file"' EXIT
echo '{"id": 1, "policy": "data-insights", "plan": "gold", "priority": "high", "opened_at": "2026-11-23T17:00:00Z"}' >"$case_file"
cpu_ms() { /usr/bin/time -f "%U %S" "$@" <"$case_file" 2>&1 >/dev/null | tail -1 | awk '{printf "%d", ($1 + $2) * 1000}'; }
floor=999999; ours=999999; base=999999
for _ in $(seq "${N:-5}"); do
  x=$(cpu_ms .venv/bin/python -c pass); ((x < floor)) && floor=$x
  x=$(cpu_ms .venv/bin/sla-clock preview --batch); ((x < ours)) && ours=$x
  if [ -n "${BASE:-}" ]; then
    x=$(PYTHONPATH="$BASE/libs/events:$BASE/libs/calendar:$BASE/services/sla-clock" cpu_ms .venv/bin/sla-clock preview --batch)
    ((x < base)) && base=$x
  fi
done
echo "CPU ms, best of ${N:-5}: python -c pass ${floor}; sla-clock preview --batch ${ours}${BASE:+; baseline $BASE $base}"
