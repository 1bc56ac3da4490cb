#!/usr/bin/env bash
# Runs every test of the repository: the .NET solution (protocol, engine, server, tool; with promtool for the
# /metrics and alert-rule tests), then the chaos suite alone (tests/Lifeline.Chaos.Tests: network faults, as root),
# the browser client (clients/js), the React bindings (clients/react) and the dashboard in headless Chromium (tests/dashboard). One command for a fresh
# Debian machine (as root, or a developer with sudo) and for CI.
#
#   ./test.sh                 build once (Release), run every test, print "N passed, M failed"
#   CONFIGURATION=Debug ./test.sh
#
# Under CI=true a test whose dependency is missing fails; it is never skipped.
# Logs go to test-output/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")"

CONFIGURATION="${CONFIGURATION:-Release}"
LOG_DIR="test-output"
CI="${CI:-false}"
export CI DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
mkdir -p "$LOG_DIR"

passed=0
failed=0
problems=()
started=$(date +%s)

note_failure() { # note_failure MESSAGE: a failure that no test runner counted (build broken, runner crashed, dependency missing)
  failed=$((failed + 1))
  problems+=("$1")
  echo "test.sh: FAILED: $1" >&2
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "test.sh: need root (or sudo) to run: $*" >&2
    return 1
  fi
}

apt_updated=0
# need_pkg CMD PKG: make sure command CMD exists, installing Debian package PKG when it does not.
# Returns non-zero when CMD is still missing; callers decide (under CI that is a failure, never a skip).
need_pkg() {
  local cmd="$1" pkg="$2"
  if command -v "$cmd" >/dev/null 2>&1; then
    return 0
  fi
  echo "test.sh: '$cmd' not found: installing Debian package '$pkg'"
  if [ "$apt_updated" -eq 0 ]; then
    as_root apt-get update -qq || return 1
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" || return 1
  command -v "$cmd" >/dev/null 2>&1
}

# missing_dep WHAT: a dependency could not be had. Under CI: a failure. Otherwise: a loud warning.
missing_dep() {
  if [ "$CI" = "true" ]; then
    note_failure "missing dependency: $1"
  else
    echo "test.sh: WARNING: skipping $1 (missing dependency; under CI=true this fails)" >&2
    problems+=("skipped: $1")
  fi
}

# ---------------------------------------------------------------- tools the .NET tests call
# promtool (Debian's prometheus package): `promtool check metrics` on /metrics and `promtool test rules` on
# deploy/prometheus/alerts.test.yml, both run from Lifeline.Cli.Tests, which fail (never skip) without it.
if ! need_pkg promtool prometheus; then
  missing_dep "promtool (Debian package prometheus) for the metrics and alert-rule tests"
fi
# ---------------------------------------------------------------- servers the .NET tests start themselves
# Lifeline.Redis.Tests start redis-server (and redis-cli for the cluster) on free loopback ports and stop them.
# A missing server makes those tests fail: they never skip.
need_pkg redis-server redis-server || missing_dep "redis-server (Debian package redis-server) for Lifeline.Redis.Tests"
need_pkg redis-cli redis-tools || missing_dep "redis-cli (Debian package redis-tools) for the Redis Cluster tests"
# Lifeline.Bench.Tests (the load generator's smoke run) start the Node ws anchor (bench/servers/ws; npm ci on first use).
need_pkg node nodejs || missing_dep "node (Debian package nodejs) for Lifeline.Bench.Tests (the ws anchor)"
need_pkg npm npm || missing_dep "npm (Debian package npm) for Lifeline.Bench.Tests (the ws anchor's packages)"
# Lifeline.Cli.Tests run deploy/nginx/lifeline.conf in a real nginx (a foreground child process on a free loopback port).
need_pkg nginx nginx || missing_dep "nginx (Debian package nginx) for the proxy tests"
# ---------------------------------------------------------------- chaos tests' system tools
# tests/Lifeline.Chaos.Tests (the chaos step below; docs/operations.md, "Chaos tests") creates network namespaces, veth
# pairs, nftables rules and tbf qdiscs: it needs root plus ip/tc/ss (iproute2) and nft (nftables). Without them those
# tests fail with a clear message (they never skip); under CI the missing package is counted as a failure here as well.
need_pkg ip iproute2 || missing_dep "chaos tests: 'ip' (Debian iproute2)"
need_pkg nft nftables || missing_dep "chaos tests: 'nft' (Debian nftables)"

# dotnet_counts LOG: "passed failed assemblies" from a `dotnet test` log. One summary per test assembly. Minimal
# verbosity: "Passed!  - Failed:     0, Passed:   100, ..."; normal or detailed verbosity: a block "Total tests: 100" /
# "     Passed: 100" / "     Failed: 1".
dotnet_counts() {
  awk '
    /^(Passed|Failed)! +- Failed: +[0-9]+, Passed: +[0-9]+/ {
      line = $0; sub(/.*Failed: +/, "", line); mf += line + 0
      line = $0; sub(/.*Passed: +/, "", line); mp += line + 0
      mn++
    }
    /^Total tests: +[0-9]+$/ { bn++; block = 1; next }
    /^ +Total time:/ { block = 0 }
    block && /^ +Passed: +[0-9]+$/ { bp += $NF }
    block && /^ +Failed: +[0-9]+$/ { bf += $NF }
    END { if (bn > 0) printf "%d %d %d\n", bp, bf, bn; else printf "%d %d %d\n", mp, mf, mn }' "$1"
}

# ---------------------------------------------------------------- .NET
if ! command -v dotnet >/dev/null 2>&1; then
  note_failure "the .NET SDK (dotnet) is not on PATH"
else
  echo "== dotnet build ($CONFIGURATION)"
  set +e
  dotnet build Lifeline.sln -c "$CONFIGURATION" -nologo 2>&1 | tee "$LOG_DIR/dotnet-build.log"
  build_rc=${PIPESTATUS[0]}
  set -e
  if [ "$build_rc" -ne 0 ]; then
    note_failure "dotnet build exited with $build_rc (see $LOG_DIR/dotnet-build.log)"
  else
    echo "== dotnet test"
    set +e
    # A hung test host is killed after 10 minutes and reported, instead of eating CI's whole budget.
    dotnet test Lifeline.sln -c "$CONFIGURATION" --no-build -nologo \
      --logger "console;verbosity=normal" \
      --blame-hang-timeout 10m --blame-hang-dump-type none \
      2>&1 | tee "$LOG_DIR/dotnet-test.log"
    test_rc=${PIPESTATUS[0]}
    set -e
    read -r dn_pass dn_fail dn_assemblies < <(dotnet_counts "$LOG_DIR/dotnet-test.log")
    passed=$((passed + dn_pass))
    failed=$((failed + dn_fail))
    # The solution's test projects (tests/Lifeline.Chaos.Tests is not in the solution: it runs alone, below).
    expected_assemblies=$(dotnet sln Lifeline.sln list | grep -c 'Tests\.csproj$')
    if [ "$dn_assemblies" -lt "$expected_assemblies" ]; then
      note_failure "dotnet test reported $dn_assemblies of $expected_assemblies test assemblies (a test host crashed or was aborted?)"
    elif [ "$test_rc" -ne 0 ] && [ "$dn_fail" -eq 0 ]; then
      note_failure "dotnet test exited with $test_rc but reported no failed test"
    fi
  fi
fi

# ---------------------------------------------------------------- chaos suite (tests/Lifeline.Chaos.Tests)
# Serial, after the solution's tests and alone on the machine: it measures time (teardown within interval + timeout +
# 1 s, recovery bounds), so it must not share the cores with the other test assemblies. That is why it is not in
# Lifeline.sln (a solution-wide `dotnet test` runs the assemblies concurrently). Scenarios 1-7 need root (network
# namespaces); 8-10 (the fault-injecting proxy, loopback) do not. Under CI without root the step is a failure.
if [ "${build_rc:-1}" -eq 0 ]; then
  chaos_filter=()
  if [ "$(id -u)" -ne 0 ]; then
    missing_dep "chaos scenarios 1-7 (network namespaces need root; CI runs as root)"
    chaos_filter=(--filter "FullyQualifiedName~ProxyTests")
  fi

  echo "== chaos suite: dotnet test tests/Lifeline.Chaos.Tests ${chaos_filter[*]+"${chaos_filter[*]}"}"
  set +e
  chaos_started=$(date +%s)
  {
    dotnet build tests/Lifeline.Chaos.Tests -c "$CONFIGURATION" -nologo &&
      dotnet test tests/Lifeline.Chaos.Tests -c "$CONFIGURATION" --no-build -nologo \
        --logger "console;verbosity=detailed" ${chaos_filter[@]+"${chaos_filter[@]}"} \
        --blame-hang-timeout 6m --blame-hang-dump-type none
  } 2>&1 | tee "$LOG_DIR/chaos-test.log"
  chaos_rc=${PIPESTATUS[0]}
  set -e
  read -r ch_pass ch_fail ch_assemblies < <(dotnet_counts "$LOG_DIR/chaos-test.log")
  passed=$((passed + ch_pass))
  failed=$((failed + ch_fail))
  echo "== chaos suite: $ch_pass passed, $ch_fail failed in $(($(date +%s) - chaos_started)) s"
  if [ "$ch_assemblies" -ne 1 ]; then
    note_failure "chaos suite: no test summary (build failed or the test host crashed? exit $chaos_rc; see $LOG_DIR/chaos-test.log)"
  elif [ "$chaos_rc" -ne 0 ] && [ "$ch_fail" -eq 0 ]; then
    note_failure "chaos suite: dotnet test exited with $chaos_rc but reported no failed test"
  fi
fi

# ---------------------------------------------------------------- clients/js and clients/react (Node's test runner)
# run_node_tests NAME LOG COMMAND...: runs a node --test suite, adds its "# pass N" / "# fail N" to the totals.
run_node_tests() {
  local name="$1" log="$2"
  shift 2
  echo "== $name"
  set +e
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  # The TAP reporter ends with "# pass N" / "# fail N"; the spec reporter (a terminal) with "ℹ pass N".
  local n_pass n_fail n_seen
  read -r n_pass n_fail n_seen < <(awk '
    /^(# |ℹ )pass [0-9]+$/ { passed += $NF; n++ }
    /^(# |ℹ )fail [0-9]+$/ { failed += $NF }
    END { printf "%d %d %d\n", passed, failed, n }' "$log")
  passed=$((passed + n_pass))
  failed=$((failed + n_fail))
  if [ "$n_seen" -eq 0 ]; then
    note_failure "$name: no test summary (npm ci or the build failed? exit $rc; see $log)"
  elif [ "$rc" -ne 0 ] && [ "$n_fail" -eq 0 ]; then
    note_failure "$name: exited with $rc but reported no failed test"
  fi
}

if need_pkg node nodejs && need_pkg npm npm; then
  # npm test also checks that src/Lifeline.Cli/Web/lifeline.js (what `lifeline serve` embeds) is the current build.
  run_node_tests "clients/js: npm ci && npm test" "$LOG_DIR/js-test.log" \
    bash -c 'cd clients/js && npm ci --no-audit --no-fund && npm test'

  # End-to-end: Debian's Chromium (playwright-core) against the lifeline tool built above.
  lifeline_dll="$PWD/src/Lifeline.Cli/bin/$CONFIGURATION/net10.0/lifeline.dll"
  if ! need_pkg chromium chromium; then
    missing_dep "clients/js browser tests (chromium)"
  elif [ "${build_rc:-1}" -ne 0 ] || [ ! -f "$lifeline_dll" ]; then
    note_failure "clients/js browser tests not run: the lifeline tool did not build ($lifeline_dll)"
  else
    run_node_tests "clients/js: npm run test:e2e (Chromium against lifeline serve)" "$LOG_DIR/js-e2e.log" \
      env LIFELINE_DLL="$lifeline_dll" CHROMIUM_PATH="$(command -v chromium)" LIFELINE_TEST_OUTPUT="$PWD/$LOG_DIR" \
      bash -c 'cd clients/js && npm run test:e2e'
  fi

  # @lifeline/react (clients/react: builds against clients/js through its dev dependency file:../js, so after its npm ci above).
  run_node_tests "clients/react: npm ci && npm test" "$LOG_DIR/react-test.log" \
    bash -c 'cd clients/react && npm ci --no-audit --no-fund && npm test'
  if ! need_pkg chromium chromium; then
    missing_dep "clients/react browser tests (chromium)"
  elif [ "${build_rc:-1}" -ne 0 ] || [ ! -f "$lifeline_dll" ]; then
    note_failure "clients/react browser tests not run: the lifeline tool did not build ($lifeline_dll)"
  else
    run_node_tests "clients/react: npm run test:e2e (React 19 and Zustand in Chromium against lifeline serve)" "$LOG_DIR/react-e2e.log" \
      env LIFELINE_DLL="$lifeline_dll" CHROMIUM_PATH="$(command -v chromium)" \
      bash -c 'cd clients/react && npm run test:e2e'
  fi
else
  missing_dep "clients/js tests (node and npm)"
fi

# ---------------------------------------------------------------- tests/dashboard (/dashboard in headless Chromium)
if need_pkg node nodejs && need_pkg npm npm && need_pkg chromium chromium; then
  echo "== tests/dashboard: npm ci && npm test (against the $CONFIGURATION build of lifeline)"
  set +e
  (cd tests/dashboard && npm ci --no-audit --no-fund && CONFIGURATION="$CONFIGURATION" npm test) 2>&1 | tee "$LOG_DIR/dashboard-test.log"
  dash_rc=${PIPESTATUS[0]}
  set -e
  read -r dash_pass dash_fail dash_seen < <(awk '
    /^(# |ℹ )pass [0-9]+$/ { passed += $NF; n++ }
    /^(# |ℹ )fail [0-9]+$/ { failed += $NF }
    END { printf "%d %d %d\n", passed, failed, n }' "$LOG_DIR/dashboard-test.log")
  passed=$((passed + dash_pass))
  failed=$((failed + dash_fail))
  if [ "$dash_seen" -eq 0 ]; then
    note_failure "tests/dashboard: no test summary (npm ci failed? exit $dash_rc; see $LOG_DIR/dashboard-test.log)"
  elif [ "$dash_rc" -ne 0 ] && [ "$dash_fail" -eq 0 ]; then
    note_failure "tests/dashboard: npm test exited with $dash_rc but reported no failed test"
  fi
else
  missing_dep "tests/dashboard (node, npm and chromium)"
fi

# ---------------------------------------------------------------- summary
# failure_digest LOG...: each failed test of the logs with the lines that explain it, so that the end of the output
# (all a CI page may show) names what failed. .NET: "  Failed Name [time]" and its error block; node: "not ok N - name"
# and its YAML block.
failure_digest() {
  awk '
    FNR == 1 { n = 0 }
    /^ +Failed [^ ].* \[[^]]*\]$/ || /^ *not ok [0-9]+ - / { n = 25; print ""; print FILENAME ":" }
    n > 0 { print "   " $0; n-- }' "$@" 2>/dev/null | head -n 400
}

echo
if [ "$failed" -ne 0 ]; then
  echo "== failed tests"
  failure_digest "$LOG_DIR"/*.log
fi
echo "== test.sh: $(($(date +%s) - started)) s"
for p in "${problems[@]+"${problems[@]}"}"; do
  echo "   $p"
done
echo "$passed passed, $failed failed"
if [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
  exit 1
fi
