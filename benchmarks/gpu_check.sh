#!/usr/bin/env bash
# The GPU checks of issue #6 as one prepared command, for a session that is lent a GPU
# (H100 / H200) for a few minutes. Run from the repository root; nothing is installed (the GPU
# image's python3 has torch 2.11, torchaudio, torchvision, scipy, tqdm, matplotlib, pytest and
# hypothesis; sertoolkit is imported from the checkout). Writes at most 6 files into $OUT:
#
#   env.txt         nvidia-smi, torch / CUDA versions
#   pytest.txt      the suite's CUDA tests: device-fixture tests on cuda and
#                   tests/test_cuda_sync.py (no host sync in the training step, sync debug mode)
#   throughput.json benchmarks/throughput.py on the GPU at paper shapes (torch.compile on),
#   throughput.md   with its Targets table (spec_augment >= 5x torchaudio, augmentation +
#                   fusion + pooling < 2% of the step, bf16 step >= 40% MFU)
#   tiny.md         report of reproduce_paper.py --profile tiny on the GPU (the pipeline's
#                   CUDA path end to end; its numbers mean nothing at that size)
#   gpu_check.log   everything printed, with each step's wall time
#
# Each step has its own time limit (150 + 300 + 100 s), so one hang does not eat the lease
# (15 minutes of device time per session, start-up included); give the device call a 600 s
# limit and read the log. The torchrun scaling section is left out (one GPU: a 1-rank row only).
# Locally, for a dry run of the script itself: DEVICE=cpu QUICK=1 OUT=/tmp/gpu-check bash benchmarks/gpu_check.sh
set -uo pipefail
OUT=${OUT:-benchmarks/out/gpu-check}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
QUICK=${QUICK:-}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec > >(tee "$OUT/gpu_check.log") 2>&1

step() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "environment"
{
    nvidia-smi || echo "nvidia-smi: not available"
    "$PY" -c "import torch, torchaudio; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'torchaudio', torchaudio.__version__, 'gpu', torch.cuda.get_device_name() if torch.cuda.is_available() else None)"
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

step "CUDA tests (device fixture on cuda, no host sync in the step)"
timeout 150 "$PY" -m pytest -q -p no:cacheprovider -x -k "cuda or sync" \
    tests/test_cuda_sync.py tests/test_augment.py tests/test_fusion.py tests/test_masking.py \
    tests/test_metrics.py tests/test_pooling.py tests/test_losses.py tests/test_encoders.py \
    > "$OUT/pytest.txt" 2>&1
echo "pytest exit $?"
tail -n 30 "$OUT/pytest.txt"

step "throughput.py on $DEVICE"
args=(--device "$DEVICE" --out "$OUT/throughput")
if [ -n "$QUICK" ]; then args+=(--quick --sections components step face)
else args+=(--min-run-time 0.5 --sections components encoder step face); fi
timeout 300 "$PY" benchmarks/throughput.py "${args[@]}"
echo "throughput exit $?"
mv -f "$OUT/throughput/throughput.json" "$OUT/throughput/throughput.md" "$OUT/" 2>/dev/null
rmdir "$OUT/throughput" 2>/dev/null

step "reproduce_paper.py --profile tiny on $DEVICE"
tiny=$(mktemp -d)
timeout 100 "$PY" benchmarks/reproduce_paper.py --profile tiny --seeds 0 --device "$DEVICE" \
    --out "$tiny"
echo "reproduce_paper exit $?"
cp "$tiny/report.md" "$OUT/tiny.md" 2>/dev/null
rm -rf "$tiny"

step "done"
ls -l "$OUT"
