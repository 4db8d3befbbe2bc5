#!/usr/bin/env bash
# The prepared device check (issue "Beyond one machine"), for a lent GPU
# machine that has no Rust toolchain: build here, carry the binary, run this.
#
#   bash benches/gpu_check.sh                 # on the GPU machine
#   bash benches/gpu_check.sh --dry-run       # here, on the CPU (what tests run)
#   bash benches/gpu_check.sh --skip-reproduce
#
# It uses target/release/hoimat (or $HOIMAT_BIN), points the loader at the
# machine's own torch 2.11.0 `lib` folder (or $HOIMAT_TORCH_LIB), and
# reports, one JSON line each: CUDA found and used; a CUDA forward of RVM's
# network against the CPU's; inference frames/s at 512x288 and 1920x1080
# (downsample ratio 0.25) at the paper width; one second-order
# meta-iteration at the paper width; `reproduce --profile smoke` on the
# device (wall time); peak GPU memory (nvidia-smi, sampled every 0.2 s).
# Output also goes to $OUT/gpu_check.log when $OUT is set.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dry=0; reproduce=1
for a in "$@"; do
    case "$a" in
        --dry-run) dry=1 ;;
        --skip-reproduce) reproduce=0 ;;
        *) echo "gpu_check: unknown option $a" >&2; exit 2 ;;
    esac
done
out="${OUT:-$(mktemp -d)}"
log="$out/gpu_check.log"
mkdir -p "$out"
say() { echo "$*" | tee -a "$log"; }
# The binary to carry: target/gpu/release/hoimat (./run gpu-binary: no HDF5,
# which a GPU image rarely has) when built, else target/release/hoimat.
bin="${HOIMAT_BIN:-}"
[ -n "$bin" ] || { [ -x target/gpu/release/hoimat ] && bin=target/gpu/release/hoimat || bin=target/release/hoimat; }
[ -x "$bin" ] || { say "gpu_check: no binary at $bin (build it with ./run build, carry target/release/hoimat)"; exit 1; }
lib="${HOIMAT_TORCH_LIB:-}"
if [ -z "$lib" ]; then
    for py in python3 python .venv/bin/python; do
        lib="$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)" && break || lib=""
    done
fi
[ -n "$lib" ] && [ -d "$lib" ] || { say "gpu_check: no torch lib folder found (set HOIMAT_TORCH_LIB)"; exit 1; }
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
say "{\"check\": \"environment\", \"binary\": \"$bin\", \"torch_lib\": \"$lib\", \"dry_run\": $([ $dry = 1 ] && echo true || echo false)}"
# Libraries the binary cannot find here end the check at once, named.
missing="$(ldd "$bin" 2>/dev/null | awk '/not found/ {print $1}' | tr '\n' ' ')"
if [ -n "$missing" ]; then
    say "{\"check\": \"libraries\", \"status\": \"missing\", \"missing\": \"$missing\", \"hint\": \"build the carried binary with ./run gpu-binary (no HDF5)\"}"
    exit 1
fi
say "{\"check\": \"libraries\", \"status\": \"ok\"}"
sampler=""
peak_file="$out/gpu_mem.txt"
if command -v nvidia-smi >/dev/null 2>&1 && [ $dry = 0 ]; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/# gpu: /' | tee -a "$log"
    ( set +e +o pipefail; while true; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | sort -n | tail -1; sleep 0.2; done ) > "$peak_file" &
    sampler=$!
fi
stop() { [ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true; }
trap stop EXIT
info="$("$bin" info | tr -d '\n')"
say "{\"check\": \"info\", \"torch\": $info}"
# TF32 off (cuDNN's default is on), so parity compares float32 with float32.
flag=(); [ $dry = 1 ] && flag=(--dry-run)
NVIDIA_TF32_OVERRIDE=0 "$bin" bench gpu ${flag[@]+"${flag[@]}"} | tee -a "$log" \
    || say "{\"check\": \"bench_gpu\", \"status\": \"failed\"}"
if [ $reproduce = 1 ]; then
    start=$(date +%s)
    cpu=(); [ $dry = 1 ] && cpu=(--cpu)
    # Datasets and results stay on the machine; the log and report come back.
    work="$(mktemp -d)"
    "$bin" reproduce --profile smoke ${cpu[@]+"${cpu[@]}"} --data "$work/data" --results "$work/results" > "$out/reproduce.log" 2>&1 \
        && status=ok || status=failed
    cp "$work/results/smoke/REPORT.md" "$out/REPORT-smoke.md" 2>/dev/null || true
    wall=$(( $(date +%s) - start ))
    say "{\"check\": \"reproduce_smoke\", \"status\": \"$status\", \"wall_s\": $wall, \"log\": \"$out/reproduce.log\"}"
    grep -m1 -o 'device [^,]*' "$out/reproduce.log" | sed 's/^/# reproduce ran on /' | tee -a "$log" || true
fi
stop
if [ -s "$peak_file" ]; then
    say "{\"check\": \"peak_gpu_memory\", \"mib\": $(sort -n "$peak_file" | tail -1)}"
else
    say "{\"check\": \"peak_gpu_memory\", \"mib\": null, \"why\": \"$([ $dry = 1 ] && echo dry run || echo no nvidia-smi)\"}"
fi
say "gpu_check: done ($log)"
