#!/usr/bin/env bash
# The first `make run` as a newcomer has it, on the prerequisites the README lists and nothing else:
# a fresh clone of this checkout's commit, a fresh HOME, and a PATH holding only basic system
# utilities plus python3, java and mvn (go, helm, dovecot and chromium must not be reachable).
# Passes when every service answers /healthz and /readyz with 200, every demo ticket reached the
# board, nothing test-only was installed, and Ctrl-C (SIGINT to make's process group, as a
# terminal sends it) stops everything cleanly. Ports are picked free here, so it runs beside a
# `make run` of yours. pip's and Maven's download caches are shared with yours: the check is about
# what gets installed, not about downloading it again.
#
#   deploy/tests/first_run.sh        (or `make first-run-check`)
#   FIRST_RUN_TIMEOUT=900 ...        seconds from `make run` to the demo on the board (default 600)
#   FIRST_RUN_KEEP=1 ...             keep the temporary directory even when the check passes
set -euo pipefail
# Job control: `make run` gets its own process group that SIGINT can be sent to, and does not start
# with SIGINT ignored (what a non-interactive shell does to background commands).
set -m

started=$(date +%s)
elapsed() { echo $(($(date +%s) - started)); }
say() { printf 'first-run [%4ss] %s\n' "$(elapsed)" "$*"; }

src=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
commit=$(git -C "$src" rev-parse HEAD)
timeout=${FIRST_RUN_TIMEOUT:-600}
if [ -n "$(git -C "$src" status --porcelain --untracked-files=no)" ]; then
  say "note: uncommitted changes in $src are not checked: the check clones commit ${commit:0:12}"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/first-run.XXXXXX")
chmod 755 "$work" # as root, PostgreSQL runs as its own user and must reach its data dir in here
desk=$work/desk
log=$work/make-run.log
bin=$work/bin
home=$work/home
mkdir -p "$bin" "$home"
make_pid=
passed=

# Every process the stack left running: its children's command lines all name the clone's path.
# (/proc read by python3 rather than pgrep: procps is not on every fresh machine.)
leftovers() {
  python3 - "$desk/" <<'EOF'
import os, sys
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        continue
    if sys.argv[1] in cmdline and int(pid) != os.getpid():
        print(pid)
EOF
}

finish() {
  local status=$?
  if [ -n "$make_pid" ] && kill -0 "$make_pid" 2>/dev/null; then
    say "stopping the stack this check started (make's process group $make_pid) ..."
    kill -INT -- "-$make_pid" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$make_pid" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$make_pid" 2>/dev/null || true
  fi
  local pids
  pids=$(leftovers)
  if [ -n "$pids" ]; then
    say "killing what the stack left running: $(echo "$pids" | tr '\n' ' ')"
    for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
  fi
  if [ -n "$passed" ] && [ -z "${FIRST_RUN_KEEP:-}" ]; then
    rm -rf "$work"
  else
    say "the clone and make-run.log are kept in $work (rm -rf it when done)"
  fi
  exit "$status"
}
trap finish EXIT
trap 'exit 130' INT TERM

fail() {
  say "FAILED: $*"
  if [ -f "$log" ]; then
    echo "---- last lines of $log"
    tail -n 40 "$log"
  fi
  exit 1
}

# The PATH: basic system utilities, then python3, java and mvn as the caller's PATH finds them.
for tool in sh bash env make cat cp mv rm mkdir rmdir ln ls touch chmod chown id uname dirname basename \
  readlink realpath pwd sed grep awk expr head tail tr cut sort uniq wc tee find xargs sleep date mktemp \
  which getent useradd groupadd ps kill; do
  found=$(command -v "$tool" 2>/dev/null || true)
  case "$found" in /*) ln -sf "$found" "$bin/$tool" ;; esac
done
python=$(python3 -c 'import sys; print(sys.executable)') || fail "no python3 on your PATH"
java=$(command -v java) || fail "no java on your PATH"
mvn=$(command -v mvn) || fail "no mvn on your PATH"
# The real files, not shims or alternatives links: pyenv's shim needs pyenv itself on the PATH.
ln -sf "$(readlink -f "$python")" "$bin/python3"
ln -sf "$(readlink -f "$java")" "$bin/java"
ln -sf "$(readlink -f "$mvn")" "$bin/mvn"

pip_cache=${PIP_CACHE_DIR:-$(python3 -m pip cache dir 2>/dev/null || echo "$HOME/.cache/pip")}
maven_repo=${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}
environment=(PATH="$bin" HOME="$home" LANG=C.UTF-8 PIP_CACHE_DIR="$pip_cache"
  MAVEN_OPTS="${MAVEN_OPTS:+$MAVEN_OPTS }-Dmaven.repo.local=$maven_repo")
# How this machine reaches package indexes (proxies, certificates, pip's index) and CI itself.
for name in $(compgen -e); do
  case "$name" in
    PIP_CACHE_DIR) ;;
    PIP_* | SSL_CERT_FILE | SSL_CERT_DIR | REQUESTS_CA_BUNDLE | CURL_CA_BUNDLE | CI | \
      http_proxy | https_proxy | no_proxy | HTTP_PROXY | HTTPS_PROXY | NO_PROXY)
      environment+=("$name=${!name}") ;;
  esac
done
in_env() { /usr/bin/env -i "${environment[@]}" "$@"; }

for tool in python3 java mvn make; do
  in_env sh -c "command -v $tool" >/dev/null || fail "$tool is not reachable on the check's PATH"
done
for tool in go helm dovecot chromium chromium-browser; do
  if where=$(in_env sh -c "command -v $tool"); then
    fail "$tool is reachable on the check's PATH ($where): the check would prove nothing"
  fi
done
# Test-only tools present on this machine before `make run`: the first run must not add any.
system_tools() {
  for tool in go helm dovecot chromium chromium-browser; do command -v "$tool" || true; done
  test -x /usr/sbin/dovecot && echo /usr/sbin/dovecot
  true
}
tools_before=$(system_tools)

say "cloning commit ${commit:0:12} of $src into $desk"
git clone -q --no-checkout "$src" "$desk"
git -C "$desk" checkout -q --detach "$commit"

# Ten free ports: six services, Kafka's broker and controller, PostgreSQL, the SMTP sink.
read -r -a ports <<<"$(python3 -c '
import socket
socks = [socket.socket() for _ in range(10)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
')"
services=(intake triage sla-clock escalation notifier board)
ports_env=(INTAKE_PORT="${ports[0]}" TRIAGE_PORT="${ports[1]}" SLA_CLOCK_PORT="${ports[2]}"
  ESCALATION_PORT="${ports[3]}" NOTIFIER_PORT="${ports[4]}" BOARD_PORT="${ports[5]}"
  SUPPORTDESK_KAFKA_PORT="${ports[6]}" SUPPORTDESK_KAFKA_CONTROLLER_PORT="${ports[7]}"
  SUPPORTDESK_POSTGRES_PORT="${ports[8]}" NOTIFIER_SMTP_PORT="${ports[9]}")
say "make run, PATH=$bin only, HOME=$home, ports ${ports[*]}; its output:"

cd "$desk"
ran=$(date +%s)
in_env "${ports_env[@]}" make run >"$log" 2>&1 &
make_pid=$!
tail --pid="$make_pid" -n +1 -f "$log" | while IFS= read -r line; do printf '  | %4ss %s\n' "$(elapsed)" "$line"; done &
set +m # the process groups are made; no job notices in the output from here

# Polls: every service's /healthz and /readyz, then each demo ticket on the board.
probe() {
  python3 - "$@" <<'EOF'
import sys, urllib.error, urllib.request

def status(url: str, key: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0

mode, *args = sys.argv[1:]
if mode == "services":
    named = [arg.split("=") for arg in args]  # service=port
    waiting = [f"{name}{path}" for name, port in named for path in ("/healthz", "/readyz")
               if status(f"http://127.0.0.1:{port}{path}") != 200]
elif mode == "board":
    port, key, *ids = args
    waiting = [t for t in ids if status(f"http://127.0.0.1:{port}/v1/board/tickets/{t}", key) != 200]
print(" ".join(waiting))
sys.exit(1 if waiting else 0)
EOF
}

deadline=$((ran + timeout))
waiting_for() {
  kill -0 "$make_pid" 2>/dev/null || { wait "$make_pid" || true; fail "make run exited while the check waited for $1"; }
  [ "$(date +%s)" -lt "$deadline" ] || fail "still waiting for $1 ${timeout}s after make run started (FIRST_RUN_TIMEOUT)"
  sleep 3
}
service_ports=()
for i in "${!services[@]}"; do service_ports+=("${services[$i]}=${ports[$i]}"); done
until left=$(probe services "${service_ports[@]}"); do
  waiting_for "every service to answer /healthz and /readyz (not yet: $left)"
done
ready=$(date +%s)
say "every service answers /healthz and /readyz with 200, $((ready - ran))s after make run started"

until [ -f "$desk/.data/demo-seeded" ]; do
  grep -q "the demo tickets were not all opened" "$log" && fail "make run could not open the demo tickets"
  waiting_for "the demo tickets to be opened"
done
mapfile -t demo_ids <"$desk/.data/demo-seeded"
[ "${#demo_ids[@]}" -gt 0 ] || fail "the demo marker lists no tickets"
key=$(cat "$desk/.data/dev-api-key")
until left=$(probe board "${ports[5]}" "$key" "${demo_ids[@]}"); do
  waiting_for "the demo tickets to reach the board (not yet: $left)"
done
on_board=$(date +%s)
say "all ${#demo_ids[@]} demo tickets are on the board, $((on_board - ran))s after make run started"

[ -e "$desk/.venv/bin/pytest" ] && fail "make run installed the test packages (pytest is in the clone's .venv)"
[ -e "$home/go/bin/helm" ] && fail "make run built helm"
[ "$(system_tools)" = "$tools_before" ] || fail "make run installed test-only tools: now $(system_tools | tr '\n' ' ')"

say "Ctrl-C: SIGINT to make's process group"
kill -INT -- "-$make_pid"
for _ in $(seq 90); do kill -0 "$make_pid" 2>/dev/null || break; sleep 1; done
kill -0 "$make_pid" 2>/dev/null && fail "make run still running 90s after Ctrl-C"
status=0
wait "$make_pid" || status=$?
make_pid=
stopped=$(date +%s)
# make passes the interrupt on and dies of it (130); anything else is a failure of the stack.
[ "$status" = 0 ] || [ "$status" = 130 ] || fail "make run exited with $status after Ctrl-C"
grep -q "^stopped\.$" "$log" || fail "devstack did not report 'stopped.'"
grep -q "Traceback (most recent call last)" "$log" && fail "a traceback in make run's output"
grep -q "^error: " "$log" && fail "make run reported an error"
[ -z "$(leftovers)" ] || fail "processes left running after Ctrl-C: $(leftovers | tr '\n' ' ')"
python3 - "${ports[@]}" <<'EOF' || fail "ports still taken after Ctrl-C"
import socket, sys
taken = [p for p in sys.argv[1:] if socket.socket().connect_ex(("127.0.0.1", int(p))) == 0]
print("taken: " + " ".join(taken) if taken else "", end="")
sys.exit(1 if taken else 0)
EOF

passed=1
say "passed in $(elapsed)s: make run to every service ready $((ready - ran))s (install included), to the demo on the board $((on_board - ran))s, Ctrl-C to stopped $((stopped - on_board))s"
