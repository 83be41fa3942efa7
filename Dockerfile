# The studio on a CUDA machine (a cloud GPU box, or a Docker Space on Hugging Face):
#   docker build -t studio . && docker run --gpus all -p 7860:7860 -v studio:/data studio
# First version: builds the three environments with the CUDA serve stack; exercised later.
FROM python:3.11-slim

RUN apt-get update && apt-get install -y --no-install-recommends git build-essential \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/studio
COPY . .
# The build sees no GPU, so say which serving stack to install.
ENV STUDIO_DEVICE=cuda STUDIO_VENVS=/opt/venvs
RUN bash scripts/setup.sh

# Everything the studio writes goes to the volume; open to the network inside the container.
ENV STUDIO_HOME=/data STUDIO_MODELS_DIR=/data/models STUDIO_HOST=0.0.0.0 STUDIO_PORT=7860
VOLUME /data
EXPOSE 7860
CMD ["sh", "-c", "/opt/venvs/app/bin/python -m studio.defaults && exec /opt/venvs/app/bin/python app.py"]
