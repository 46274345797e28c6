#!/usr/bin/env bash
# Rebuilds wheels/llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl from the official sdist, portable
# (no -march=native; AVX2/FMA still used) and without the multimodal part, which chat does not need.
# llama-cpp-python loads its library through ctypes, so one wheel serves every Python 3 on Linux x86-64;
# requirements.txt finds it with --find-links, and pip builds the sdist wherever it does not fit.
# About 12 minutes and 17 CPU-minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" python3 -m pip wheel --no-deps --no-cache-dir \
    --no-binary llama-cpp-python "llama-cpp-python==0.3.36" -w "$out"
mv "$out"/llama_cpp_python-0.3.36-*.whl wheels/
(cd wheels && sha256sum llama_cpp_python-*.whl > SHA256SUMS)
cat wheels/SHA256SUMS
