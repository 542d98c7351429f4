#!/bin/sh
# Cross-check dsv2's reference quantisers against ggml's C, byte for byte (not in CI).
#   tools/quant_crosscheck/crosscheck.sh [LLAMA_CPP_DIR] [CONTRACT]
# LLAMA_CPP_DIR: a llama.cpp source tree (default: the peer copy next to the checkout). Its
# ggml-quants.c is compiled into a temporary directory, never into this repository.
# CONTRACT: -ffp-contract for ggml's C: 'off' (default: IEEE operations as written, what gguf-py
# and dsv2 compute) or 'fast' (what a -march=native gnu11 build of ggml does by default).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
llama=${1:-/work/peers/llama_cpp_python-0.3.36/vendor/llama.cpp}
contract=${2:-off}
ggml=$llama/ggml
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -march=native -ffp-contract="$contract" -I"$ggml/include" -I"$ggml/src" -c "$ggml/src/ggml-quants.c" -o "$tmp/ggml-quants.o"
g++ -std=c++20 -O2 -march=native -Wall -Wextra -Werror -I"$root/include" "$here/crosscheck.cpp" "$tmp/ggml-quants.o" -lm -o "$tmp/crosscheck"
"$tmp/crosscheck"
