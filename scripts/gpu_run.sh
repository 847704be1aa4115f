#!/usr/bin/env bash
# The gpu profile and the benchmarks on a GPU machine, as one command: scripts/gpu_run.sh OUTDIR
#
# Needs python3 with torch, numpy, networkx, matplotlib, pandas, scikit-learn, tqdm (scipy and PyYAML
# too, or their wheels); no Jupyter, no git, no network. Prepared here with `make gpu-prep` (the data
# into .device_data/, wheels of what that machine may lack into .whl/). Writes under OUTDIR:
#   results/            the results store while it runs (CONVLIB_RESULTS; a copy of data/results, so
#                       entries already fresh are served, not recomputed), each shard as it finishes
#   results.tar.gz      the entries this run added, repacked every minute and at the end (untar it
#                       over data/results); results/ is then removed, unless GPU_KEEP=1
#   run.log  env.txt  bench_nas.md  bench_mlp.md  bench_lambda_min.md
# Two results processes share the store: GPU_CPU_PART (default: chapter 07 but its search, the PR-DARTS
# toys and Figure 2, which run on the CPU) in one process from the start, GPU_ONLY (default ch01 ... ch06
# and ch07.search, convlib.darts on the GPU) on GPU_WORKERS (14) one-thread Dask workers sharing the GPU
# (0: one process). Entries fresh in data/results are
# not recomputed, so every paper-profile entry should be fresh first (results --status).
# Environment: GPU_PROFILE (gpu), GPU_BUDGET_S (420: both get SIGINT then, so packing always runs),
# GPU_BENCH (1), GPU_ALLOW_DIRTY (set: --allow-dirty, for tests), CONVLIB_DATA (default .device_data/).
set -euo pipefail
out=${1:?usage: scripts/gpu_run.sh OUTDIR}
mkdir -p "$out" && out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
profile=${GPU_PROFILE:-gpu} workers=${GPU_WORKERS:-14} budget=${GPU_BUDGET_S:-420}
gpu_part=${GPU_ONLY:-ch01 ch02 ch03 ch04 ch05 ch06 ch07.search}
cpu_part=${GPU_CPU_PART-ch07.binary_gram ch07.nb201_bridge ch07.skip_fraction ch07.theorem1 ch07.theorem4}
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 PYTHONHASHSEED=0 MPLBACKEND=Agg
if [ -z "${CONVLIB_DATA:-}" ] && [ -d .device_data ]; then export CONVLIB_DATA=$PWD/.device_data; fi
exec > >(tee -a "$out/run.log") 2>&1
echo "gpu_run: profile $profile, $workers workers for $gpu_part, one process for ${cpu_part:-nothing}, budget ${budget}s, data ${CONVLIB_DATA:-(search path)}, $(date -u +%FT%TZ)"

# Wheels only for what this python lacks (installed beside it, not over it).
missing=$("$PY" -c 'import importlib.util as u; print(*[m for m in ("yaml", "scipy", "dask", "distributed") if u.find_spec(m) is None])')
if [ -n "$missing" ]; then
  echo "gpu_run: installing from .whl/ for: $missing"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/gpu_run_site .whl/*.whl
  export PYTHONPATH=$PYTHONPATH:/tmp/gpu_run_site
fi
if [ "$workers" != 0 ] && ! "$PY" -c 'import dask.distributed' 2>/dev/null; then
  echo "gpu_run: dask.distributed does not import: running the shards in one process"; workers=0
fi
{ "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available() and torch.cuda.get_device_name(0))'
  nvidia-smi 2>/dev/null || true; } > "$out/env.txt"

# The store: a copy of the committed cache; new shards land here as they finish.
export CONVLIB_RESULTS=$out/results
mkdir -p "$CONVLIB_RESULTS" && cp -a data/results/. "$CONVLIB_RESULTS"/ && touch "$out/.start"
pack() {  # the entries written since the start, atomically
  (cd "$CONVLIB_RESULTS" && find . -type f -newer "$out/.start" ! -path './.tmp/*' ! -path './.state/*' -print0 \
     | tar --null -czf "$out/.results.tar.gz" -T - && mv "$out/.results.tar.gz" "$out/results.tar.gz")
}
(while sleep 60; do pack || true; done) & packer=$!
results() { timeout -s INT -k 30 "$budget" "$PY" -m convlib results --profile "$profile" ${GPU_ALLOW_DIRTY:+--allow-dirty} "$@"; }
cpu_rc=0 rc=0
if [ -n "$cpu_part" ]; then results --only $cpu_part --workers 0 > "$out/cpu_part.log" 2>&1 & cpu=$!; fi
results --only $gpu_part --workers "$workers" || rc=$?
if [ -n "$cpu_part" ]; then wait "$cpu" || cpu_rc=$?; cat "$out/cpu_part.log"; rm "$out/cpu_part.log"; fi
[ "$rc" != 0 ] || rc=$cpu_rc
kill "$packer" 2>/dev/null || true
pack
echo "gpu_run: results exit $rc (124 means stopped at the ${budget}s budget: run again to resume); $(tar -tzf "$out/results.tar.gz" | grep -c '\.json$') entries packed"

if [ "${GPU_BENCH:-1}" = 1 ]; then
  dev=$("$PY" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')
  timeout 90 "$PY" benchmarks/bench_nas.py --device "$dev" > "$out/bench_nas.md" || echo "bench_nas: exit $?"
  timeout 90 "$PY" benchmarks/bench_mlp.py --device "$dev" > "$out/bench_mlp.md" || echo "bench_mlp: exit $?"
  timeout 60 "$PY" benchmarks/bench_lambda_min.py --device "$dev" --loop-cells 500 > "$out/bench_lambda_min.md" \
    || echo "bench_lambda_min: exit $?"
fi
[ "${GPU_KEEP:-0}" = 1 ] || rm -rf "$CONVLIB_RESULTS" "$out/.start"
exit "$rc"
