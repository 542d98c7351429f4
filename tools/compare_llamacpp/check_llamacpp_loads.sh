#!/usr/bin/env bash
# A GGUF written by `dsv2 convert` loads and runs in llama.cpp (not in CI: llama.cpp is built
# outside the repository, tools/compare_llamacpp/README.md).
#   tools/compare_llamacpp/check_llamacpp_loads.sh [MODEL_DIR] [LLAMA_BENCH] [DSV2]
# Converts MODEL_DIR (default: the test checkpoint tests/fixtures/lite) to f32, bf16, q8_0 and
# q4_k_m, and runs llama-bench (prefill 8, decode 4 tokens) on each; fails on the first error.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
MODEL="${1:-tests/fixtures/lite}"
BENCH="${2:-/work/peers/llama.cpp-build/bin/llama-bench}"
DSV2="${3:-build/release/tools/cli/dsv2}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
for type in f32 bf16 q8_0 q4_k_m; do
    "$DSV2" convert "$MODEL" "$OUT/$type.gguf" --type "$type"
    "$BENCH" -m "$OUT/$type.gguf" -p 8 -n 4 -r 1 -t 1 | grep -E 'deepseek2'
done
echo "llama.cpp loaded and ran every dsv2-written file"
