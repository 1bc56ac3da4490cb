#!/usr/bin/env bash
# Runs the Lifeline benchmarks side by side with ASP.NET Core SignalR and Node ws, and writes docs/benchmarks.md.
#
#   bench/run.sh                  build (Release), every workload of bench/workloads.txt, 3 runs each, all three servers
#   bench/run.sh --runs 1         fewer runs (development)
#   bench/run.sh --only w2-fanout run one workload (keeps the other sections of docs/benchmarks.md out)
#   bench/run.sh --no-doc         do not touch docs/benchmarks.md (results stay in the results directory)
#
# Results (JSON and markdown per workload) go to $BENCH_OUT (default: a fresh /tmp/lifeline-bench.XXXX directory).
# Servers are child processes of the generator, killed when it exits (also on Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

runs=3
only=""
write_doc=1
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --no-doc) write_doc=0; shift ;;
    *) echo "bench/run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
out="${BENCH_OUT:-$(mktemp -d /tmp/lifeline-bench.XXXXXX)}"
mkdir -p "$out"
log="$out/run.log"

echo "== build (Release)" | tee "$log"
bench/build.sh 2>&1 | tee -a "$log" | tail -3

started=$(date +%s)
generator=(dotnet bench/Lifeline.Bench/bin/Release/net10.0/lifeline-bench.dll)
commands=()
names=()
while read -r name params; do
  case "$name" in ''|'#'*) continue ;; esac
  if [ -n "$only" ] && [ "$name" != "$only" ]; then continue; fi
  # shellcheck disable=SC2206
  cmd=("${generator[@]}" run "$name" --runs "$runs" --out "$out" $params)
  echo "== ${cmd[*]}" | tee -a "$log"
  set +e
  "${cmd[@]}" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  set -e
  [ "$rc" -eq 0 ] || echo "bench/run.sh: $name exited with $rc (incomplete figures; see $log)" | tee -a "$log"
  commands+=("${cmd[*]}")
  names+=("$name")
done < bench/workloads.txt
elapsed=$(( $(date +%s) - started ))

if [ "$write_doc" -eq 1 ]; then
  bench/write-doc.sh "$out" "$elapsed" "${names[@]}" -- "${commands[@]}" > docs/benchmarks.md
  echo "bench/run.sh: wrote docs/benchmarks.md (${elapsed} s of workloads; results in $out)"
else
  echo "bench/run.sh: ${elapsed} s; results in $out"
fi
