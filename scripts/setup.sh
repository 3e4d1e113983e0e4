#!/usr/bin/env bash
# Set up a virtual environment in the checkout (.venv) with assay installed.
#   bash scripts/setup.sh          # core only: rule rewards, composition, `assay score`
#   bash scripts/setup.sh all      # every extra: models, serve, train, llama, plots, sql, ifeval, tools, ors, dev
# PyTorch is installed first as the CPU build (torch==2.13.0), so nothing pulls a CUDA build.
# pip's output goes to .venv/setup.log and is shown only when something fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
LOG=.venv/setup.log
: > "$LOG"
install() {
  if ! .venv/bin/python -m pip install -q "$@" >>"$LOG" 2>&1; then
    echo "setup failed: pip install $*; the log follows" >&2
    grep -v "is ignored" "$LOG" | tail -40 >&2
    exit 1
  fi
}
install --upgrade pip
if [ "${1:-core}" = "all" ]; then
  echo "setting up .venv with every extra (log: $LOG)" >&2
  install torch==2.13.0
  # llama.cpp, built from source for the [llama] extra, once per environment. Its default
  # native build (-march=native) turns on AMX where the CPU lists it, and ggml's AMX matmul
  # segfaults on machines whose kernel does not let a process use AMX (this project's CI VM:
  # `assay llama-server` died on its first completion). So: a portable AVX2 build
  # (GGML_NATIVE=OFF; set CMAKE_ARGS to choose your own), never taken from pip's wheel cache,
  # which may hold a native build from another CPU. The install below then finds it in place.
  if ! .venv/bin/python -c "import llama_cpp" >/dev/null 2>&1; then
    echo "building llama-cpp-python (a few minutes)" >&2
    (export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"; install --no-cache-dir "llama-cpp-python[server]>=0.3") || exit 1
  fi
  install -e ".[models,serve,train,llama,plots,sql,ifeval,tools,ors,dev]"
  # veRL and OpenRLHF, only so that tests can run assay's adapters through the trainers' own
  # reward code (veRL's reward managers, OpenRLHF's rollout executor). Their pins
  # (transformers<5.11 and ==5.15, ray==2.55, ...) do not fit this stack, so they are
  # installed without them, plus the few packages those modules import.
  install --no-deps verl==0.9.1 openrlhf==0.11.2
  install tensordict codetiming hydra-core pylatexenc torchdata dill peft aiohttp orjson  # orjson: veRL's reward loop (verl.utils.tracking)
  # verifiers (prime-rl's environments): its dependencies conflict with openreward's (the ors
  # extra pins sse-starlette==2.3.6; verifiers' mcp wants >=3), so it is installed without
  # them, plus the packages `import verifiers.v1` needs (about 10 s of pip).
  install --no-deps verifiers==0.4.0 prime-pydantic-config==0.4.3 renderers==0.1.12 prime-sandboxes==0.5.1 \
    connectrpc==0.11.1 protobuf-py==0.1.1 protobuf-py-ext==0.1.1 pyqwest==0.12.0 tomli-w==1.2.0 aiofiles==25.1.0
else
  echo "setting up .venv (log: $LOG)" >&2
  install -e .
fi
.venv/bin/python -c "import assay" || { echo "setup failed: assay does not import" >&2; exit 1; }
# bubblewrap isolates the code reward's sandbox (assay/sandbox); without it (or util-linux's
# unshare) code rewards fail with a `backend` failure saying how to install it. Installed
# only where this script may: as root, with apt-get; skipped silently otherwise.
if ! command -v bwrap >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq bubblewrap) >>"$LOG" 2>&1 || true
fi
