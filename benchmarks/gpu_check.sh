#!/usr/bin/env bash
# GPU check: on a machine with a CUDA GPU, run the CUDA-marked tests and the
# benchmark table on the GPU (compiled step included), within 8 minutes.
#
#   bash benchmarks/gpu_check.sh [RESULTS_DIR]     # default: $OUT if set, else ./gpu-results
#
# Writes RESULTS_DIR/{environment.txt,pytest-cuda.log,performance-cuda.md,benchmark.log}.
set -uo pipefail
cd "$(dirname "$0")/.."
results=${1:-${OUT:-gpu-results}}
export PYTHONUNBUFFERED=1
python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || { echo "gpu_check: no CUDA device visible to torch" >&2; exit 2; }
mkdir -p "$results"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null
  python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
  lscpu | grep -E 'Model name|^CPU\(s\)' ; } > "$results/environment.txt" 2>&1
cat "$results/environment.txt"

status=0
# 1. the CUDA-marked tests (≤ 3 minutes)
timeout 180 python -m pytest -m cuda -q -p no:cacheprovider -rs 2>&1 | tee "$results/pytest-cuda.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

# 2. the benchmark table on the GPU, compiled step included (≤ 5 minutes)
timeout 300 python -m benchmarks.run --quick --compile --device cuda --out "$results/performance-cuda.md" \
    2>&1 | tee "$results/benchmark.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
exit $status
