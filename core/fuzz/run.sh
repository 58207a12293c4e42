#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for a fixed time each, from the seed corpus.
#
#   core/fuzz/run.sh 60                  # make reliability
#   core/fuzz/run.sh 5                   # make test (smoke)
#   core/fuzz/run.sh 30 wire_record      # one target
#
# New inputs found during a run go to a scratch corpus, not into the repo: the seeds under
# corpus/<target>/ stay a small, reviewed set. A crash is saved under artifacts/<target>/
# and makes the script exit 1 after the other targets have run.
set -euo pipefail

seconds="${1:-60}"
shift || true
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(wire_record session_id session_data sealed_open)
fi

# libFuzzer needs nightly; cargo-fuzz is installed on first use.
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
scratch="$(mktemp -d "${TMPDIR:-/tmp}/omnisession-fuzz.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

# One build for all targets, outside the timed runs.
cargo +nightly fuzz build

failed=()
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t" "artifacts/$t"
  log="$scratch/$t.log"
  status=0
  # -rss_limit_mb: no input should make a parse allocate this much; -timeout: nor take 10 s.
  cargo +nightly fuzz run "$t" "$scratch/$t" "corpus/$t" -- \
    -max_total_time="$seconds" -dict=json.dict -print_final_stats=1 \
    -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1 || status=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1 || true)"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | tr -dc 0-9 || true)"
  units="$(find "$scratch/$t" -type f | wc -l)"
  if [ "$status" -eq 0 ]; then
    echo "fuzz $t: ok ${seconds}s execs=${execs:-?} (${rate:-?}/s) cov=${cov:-?} new_inputs=$units"
  else
    echo "fuzz $t: FAILED (exit $status) execs=${execs:-?}; log follows"
    grep -v '^#' "$log" | tail -40
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "crashing targets: ${failed[*]} (inputs under core/fuzz/artifacts/)"
  exit 1
fi
