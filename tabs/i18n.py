"""Every string the UI shows, in English and Chinese.

Labels are translated in the browser by gr.I18n (its locale picks the language); messages built
by handlers are picked here from the request's Accept-Language header.
"""
from __future__ import annotations

import re

import gradio as gr

from studio import words
from tabs.i18n_extra import MORE, NOTICES
from tabs.i18n_tune import TUNE

# key: (English, 简体中文)
TEXT = {
    "title": ("# LLM Studio · pick, tune, deploy, ground, chat", "# 大模型工作室 · 选模型、微调、部署、知识库、对话"),
    "intro": ("From a model to a grounded chatbot in six tabs. Everything runs on this machine.",
              "六个标签页，从选模型走到带知识库的对话机器人；全部在本机运行。"),
    # tabs
    "tab_models": ("1 · Models", "1 · 模型"), "tab_dataset": ("2 · Dataset", "2 · 数据集"),
    "tab_train": ("3 · Train", "3 · 训练"), "tab_deploy": ("4 · Deploy", "4 · 部署"),
    "tab_knowledge": ("5 · Knowledge", "5 · 知识库"), "tab_chat": ("6 · Chat", "6 · 对话"),
    # models
    "local_models": ("Models on this machine", "本机已有的模型"),
    "use_model": ("Use this model", "使用此模型"),
    "folder_path": ("…or a model folder path", "……或输入模型文件夹路径"),
    "use_folder": ("Use folder", "使用该文件夹"),
    "catalog": ("Catalog, or any hub id (download needs the internet)", "模型目录或任意 Hub ID（下载需要联网）"),
    "inspect": ("Show facts", "查看参数"), "download": ("Download", "下载"),
    "fit_title": ("Will it fit? Memory estimate", "显存够不够？显存估算"),
    "method": ("Method", "方法"), "seq_len": ("Sequence length", "序列长度"),
    "grad_ckpt": ("Gradient checkpointing", "梯度检查点"), "gpu_gib": ("GPU memory (GiB)", "显存（GiB）"),
    "est_active": ("the active model", "当前模型"), "est_catalog": ("the catalog choice", "目录中选中的模型"),
    "estimate_for": ("Estimate for", "估算对象"), "estimate": ("Estimate", "估算"),
    "active_model": ("Active model", "当前模型"),
    "m_fact": ("Fact", "项目"), "m_value": ("Value", "数值"),
    # dataset
    "dataset": ("Dataset", "数据集"), "load": ("Load", "加载"),
    "rows": ("Rows (instruction / input / output)", "数据行（指令 / 输入 / 输出）"),
    "save_as": ("Save as", "保存为"), "save": ("Save", "保存"), "check": ("Check", "检查"),
    "add_row": ("Add row", "添加一行"), "format": ("Format", "格式"),
    "preview_title": ("Preview as the trainer sees it, and statistics", "按训练时的样子预览，以及统计"),
    "row_number": ("Row", "行号"), "preview": ("Preview", "预览"), "stats": ("Statistics", "统计"),
    "as_trained": ("Green is trained (the answer; red: a pair's rejected answer); grey is masked (the prompt)",
                   "绿色参与训练（回答；红色为偏好对中较差的回答），灰色被遮蔽（提示）"),
    "length_hist": ("Tokens per row", "每行 token 数"),
    "import_export": ("Import, export and versions", "导入、导出与版本"),
    "import_file": ("JSON, JSONL or CSV file", "JSON、JSONL 或 CSV 文件"),
    "mapping": ("CSV column mapping (optional)", "CSV 列映射（可选）"), "import": ("Import", "导入"),
    "file_type": ("File type", "文件类型"), "export": ("Export", "导出"),
    "download_file": ("Exported file", "导出的文件"), "version": ("Saved version", "历史版本"),
    "restore": ("Restore", "恢复"),
    # train
    "lora_rank": ("LoRA rank", "LoRA 秩 (rank)"), "lora_alpha": ("LoRA alpha", "LoRA alpha"),
    "lora_target": ("Target modules", "目标模块"), "lr": ("Learning rate", "学习率"),
    "epochs": ("Epochs", "训练轮数"), "max_steps": ("Max steps (0 = use epochs)", "最大步数（0 表示按轮数）"),
    "cutoff": ("Cutoff length (tokens)", "截断长度（token）"), "batch": ("Batch size", "批大小"),
    "save_steps": ("Checkpoint every N steps", "每 N 步保存检查点"),
    "yaml_cmd": ("YAML and command", "YAML 配置与命令"), "show_yaml": ("Show", "生成"),
    "checkpoint": ("Checkpoint", "检查点"), "resume": ("Resume", "继续训练"),
    "merge": ("Merge into a full model", "合并为完整模型"),
    "full_ft": ("Full fine-tune", "全参数微调"),
    "advanced": ("Advanced", "高级设置"), "grad_accum": ("Gradient accumulation", "梯度累积步数"),
    "scheduler": ("Learning-rate schedule", "学习率调度"), "warmup": ("Warm-up ratio", "预热比例"),
    "lora_dropout": ("LoRA dropout", "LoRA 丢弃率"), "val_size": ("Held out for eval", "验证集比例"),
    "qlora": ("QLoRA: 4-bit base weights", "QLoRA：4 比特量化基座"),
    "deepspeed": ("DeepSpeed (multi-GPU)", "DeepSpeed（多卡）"),
    "probe": ("Time it", "试跑测速"), "lr_curve": ("Learning rate", "学习率"),
    "before_after": ("Before and after: base vs tuned answers", "微调前后对比：基座与微调后的回答"),
    "prompts": ("Prompts, one per line", "提示词，每行一个"), "compare": ("Compare", "对比"),
    "all_runs": ("All runs: settings, outcome, files", "全部训练任务：配置、结果与产物"),
    "publish": ("Publish to the Hugging Face hub", "发布到 Hugging Face Hub"),
    "repo_id": ("Repository (owner/name)", "仓库（所有者/名称）"), "hf_token": ("Token (write access; not stored)", "Token（需写权限，不会保存）"),
    "the_adapter": ("the adapter", "适配器"), "the_merged": ("the merged model", "合并后的模型"),
    "what": ("Publish", "发布内容"), "private": ("Private", "私有"), "publish_btn": ("Publish", "发布"),
    "start_training": ("Start training", "开始训练"), "cancel": ("Cancel", "取消"),
    "run": ("Training run", "训练任务"), "progress": ("Progress", "进度"),
    "loss_curve": ("Loss", "损失曲线"), "log": ("Log", "日志"), "refresh": ("Refresh", "刷新"),
    # deploy
    "adapters": ("LoRA adapters to serve", "要加载的 LoRA 适配器"),
    "deploy_settings": ("Settings", "部署设置"),
    "max_len": ("Max model length (tokens)", "最大上下文长度（token）"),
    "i_max_len": ("Longest prompt + answer one request may use; memory is reserved for it.",
                  "单个请求提示加回答的最大长度；会按它预留显存。"),
    "gpu_share": ("GPU memory share", "显存占用比例"),
    "i_gpu_share": ("What vLLM may take of the card for weights and KV cache.", "vLLM 可占用的显存比例（权重与 KV 缓存）。"),
    "kv_gib": ("KV-cache space (GiB)", "KV 缓存空间（GiB）"),
    "i_kv_gib": ("Memory for the KV cache on CPU: more allows more concurrent tokens.",
                 "CPU 上 KV 缓存的内存：越大可同时处理的 token 越多。"),
    "tp": ("Tensor parallel size", "张量并行数"),
    "i_tp": ("Split one model across this many GPUs (needs more than one GPU).", "把一个模型切分到多张 GPU 上（需要多于一张 GPU）。"),
    "i_dtype": ("auto: on CPU what the launch plan below chooses (bfloat16 where the CPU has it), the model's own type on GPU.",
                "auto：CPU 上按下面的启动设置选择（CPU 支持时用 bfloat16），GPU 上用模型自身的类型。"),
    "prefix_cache": ("Prefix caching", "前缀缓存"),
    "i_prefix": ("Reuse the work on a shared prompt start (system prompt, documents): faster first tokens.",
                 "复用相同开头（系统提示、文档）的计算：首 token 更快。"),
    "max_rank": ("Max LoRA rank (0 = from adapters)", "最大 LoRA 秩（0 表示按适配器）"),
    "max_loras": ("Adapters at once", "同时加载的适配器数"),
    "api_key": ("Require an API key", "需要 API 密钥"),
    "i_api_key": ("A new key is generated and shown once; every /v1 call must send it.",
                  "会生成新密钥并只显示一次；每个 /v1 请求都必须带上它。"),
    "host": ("Listen on", "监听地址"),
    "i_host": ("127.0.0.1 keeps vLLM's own port on this machine; others reach the model through the studio's "
               "/v1 with its key. 0.0.0.0 opens vLLM's port too, and needs an API key.",
               "127.0.0.1 让 vLLM 自己的端口只在本机可用；其他人通过工作台的 /v1 加密钥访问模型。"
               "0.0.0.0 会把 vLLM 的端口也对外开放，必须设置 API 密钥。"),
    "key_once": ("API key (shown once: copy it now)", "API 密钥（只显示一次，请立即复制）"),
    "deployment": ("Deployment", "部署实例"),
    "runtime_adapter": ("Adapter", "适配器"), "load_adapter": ("Load", "加载"),
    "unload_adapter": ("Unload", "卸载"),
    "tokens_s": ("Generation tokens/s", "生成速度（tokens/秒）"),
    "load_kv": ("Requests running, waiting; KV cache %", "运行/等待请求数；KV 缓存占用 %"),
    "deploy": ("Deploy", "部署"), "stop": ("Stop", "停止"), "endpoint": ("Endpoint", "服务地址"),
    "snippet": ("Call it from code", "代码调用示例"),
    # knowledge
    "upload": ("Documents (TXT, MD, HTML, PDF, DOCX, CSV, JSON) or .zip files",
               "文档（TXT、MD、HTML、PDF、DOCX、CSV、JSON）或 .zip 压缩包"),
    "ingest": ("Add to knowledge base", "加入知识库"), "documents": ("Documents", "文档列表"),
    "document": ("Document", "文档"), "delete": ("Delete", "删除"),
    "query": ("Search the knowledge base", "检索知识库"), "search": ("Search", "检索"),
    "hits": ("Top chunks · dense and BM25 columns: the chunk's rank · score in that list before fusion",
             "最相关的文本块 · 稠密与 BM25 两列：融合前该文本块在各自结果中的排名 · 得分"),
    # chat
    "chat_model": ("Answer with", "回答所用模型"), "use_rag": ("Use the knowledge base", "使用知识库"),
    "external_target": ("External OpenAI-compatible endpoint…", "外部 OpenAI 兼容接口……"),
    "ext_url": ("Base URL", "接口地址（Base URL）"), "ext_key": ("API key", "API 密钥"),
    "ext_model": ("Model", "模型"), "ext_list": ("List models", "列出模型"),
    "chat_settings": ("System prompt and sampling", "系统提示词与采样参数"),
    "system_prompt": ("System prompt", "系统提示词"), "temperature": ("Temperature", "温度"),
    "max_tokens": ("Max new tokens", "最多生成 token 数"), "regenerate": ("Regenerate", "重新生成"),
    "export_chat": ("Export (Markdown + JSON)", "导出（Markdown + JSON）"),
    "compare_question": ("One question for all of them", "同一个问题"),
    "compare_title": ("Compare: one question, up to four answers side by side",
                      "对比：同一个问题，最多四个回答并排"),
    "message": ("Message", "消息"), "send": ("Send", "发送"), "clear": ("Clear", "清空"),
    # messages built by handlers
    "m_from_config": ("estimated from config.json; the weights are not on this machine",
                      "根据 config.json 估算，本机没有该模型的权重"),
    "m_not_downloaded": ("facts from its config.json (not downloaded)", "来自 config.json（尚未下载）"),
    "m_part": ("Part", "组成"), "m_memory": ("Memory", "显存"), "m_total": ("Peak total", "峰值合计"),
    "p_weights": ("Weights", "模型权重"), "p_adapters": ("LoRA adapters (fp32)", "LoRA 适配器（fp32）"),
    "p_gradients": ("Gradients", "梯度"), "p_optimizer": ("AdamW states", "AdamW 优化器状态"),
    "p_activations": ("Activations", "激活值"), "p_logits": ("Logits and loss", "logits 与损失"),
    "p_kv_cache": ("KV cache", "KV 缓存"), "p_overhead": ("CUDA context and slack", "CUDA 上下文与余量"),
    "m_fits": ("Fits: needs about {need} of {have}.", "放得下：约需 {need}，共有 {have}。"),
    "m_no_fit": ("Does not fit: needs about {need} but the GPU has {have}. Try QLoRA, a smaller batch "
                 "or sequence, gradient checkpointing, or fewer LoRA targets.",
                 "放不下：约需 {need}，但显存只有 {have}。可以试试 QLoRA、减小批大小或序列长度、"
                 "开启梯度检查点，或减少 LoRA 目标模块。"),
    "m_active": ("Active model: **{name}**", "当前模型：**{name}**"),
    "m_saved": ("Saved {n} rows to {name}. The previous version was kept.", "已保存 {n} 行到 {name}，旧版本已保留。"),
    "m_valid": ("{n} rows, no problems found.", "共 {n} 行，未发现问题。"),
    "m_problems": ("{n} problems:", "发现 {n} 个问题："),
    "m_no_row": ("Pick a row between 1 and {n}.", "请选择 1 到 {n} 之间的行。"),
    "m_tokens": ("{length} tokens with the chat template (cutoff {cutoff}: {kept} kept); {trained} of them are trained.",
                 "套用对话模板后共 {length} 个 token（截断长度 {cutoff}，保留 {kept} 个）；其中 {trained} 个参与训练。"),
    "m_stats": ("{rows} rows ({format}) · tokens per row: min {tokens_min}, mean {tokens_mean:.0f}, max {tokens_max} · "
                "{over} over the cutoff of {cutoff} · {duplicates} exact duplicates",
                "{rows} 行（{format}）· 每行 token 数：最少 {tokens_min}，平均 {tokens_mean:.0f}，最多 {tokens_max} · "
                "{over} 行超过截断长度 {cutoff} · {duplicates} 行完全重复"),
    "m_imported": ("Imported {n} rows, detected format: {fmt}. Not saved yet: check, then save.",
                   "已导入 {n} 行，识别为 {fmt} 格式。尚未保存：请检查后再保存。"),
    "m_row": ("row {i}", "第 {i} 行"),
    "m_train_started": ("Training started: {name}", "训练已开始：{name}"),
    "m_resumed": ("resumed from {ckpt}", "从 {ckpt} 继续"),
    "m_merging": ("Merging; the full model will appear on the Models tab as {path}.",
                  "正在合并；完成后完整模型会出现在“模型”标签页：{path}。"),
    "m_plan": ("Estimated peak memory {mem} · {steps} steps\n\n`{peft}`",
               "预计峰值显存 {mem} · 共 {steps} 步\n\n`{peft}`"),
    "m_probing": ("Timing a few real steps of this configuration…", "正在用这组配置试跑几步测速……"),
    "m_probe": ("Measured {sps:.2f} s per step: {steps} steps take about {minutes:.1f} min.",
                "实测每步 {sps:.2f} 秒：{steps} 步约需 {minutes:.1f} 分钟。"),
    "m_probe_failed": ("The timing run ended as {status}; see its log in the run list.",
                       "测速任务结束状态为 {status}，请在任务列表中查看日志。"),
    "m_throughput": ("{tps:.0f} tokens/s", "{tps:.0f} tokens/秒"),
    "m_comparing": ("Answering with both models; the table fills in when done.", "正在用两个模型回答，完成后表格会自动填充。"),
    "m_published": ("Published: {url}", "已发布：{url}"),
    "m_no_run": ("No training run yet.", "还没有训练任务。"),
    "m_status": ("Status: **{status}**", "状态：**{status}**"),
    "m_step": ("step {step}/{total} · elapsed {elapsed} · remaining {remaining}",
               "第 {step}/{total} 步 · 已用 {elapsed} · 剩余 {remaining}"),
    "m_waiting": ("{s} s so far; loading the model usually takes 30-60 s on a CPU",
                  "已等待 {s} 秒；在 CPU 上加载模型通常需要 30-60 秒"),
    "m_telemetry": ("Generated {gen} tokens · mean time to first token {ttft} · prefix-cache hits {hit}",
                    "已生成 {gen} 个 token · 平均首 token 时间 {ttft} · 前缀缓存命中率 {hit}"),
    "m_no_server": ("No deployment. Press Deploy.", "尚未部署，请点击“部署”。"),
    "m_ingested": ("Added {name}: {n} chunks.", "已加入 {name}：{n} 个文本块。"),
    "m_deleted": ("Deleted {name} and its chunks.", "已删除 {name} 及其文本块。"),
    "m_pick_doc": ("Choose a document to delete.", "请选择要删除的文档。"),
    "m_no_files": ("Choose one or more files first.", "请先选择文件。"),
    "m_ext_needed": ("Give the endpoint's base URL and a model name.", "请填写接口地址和模型名称。"),
    "m_speed": ("first token after {ttft:.0f} ms · answer in {secs:.1f} s", "首 token 用时 {ttft:.0f} 毫秒 · 回答共 {secs:.1f} 秒"),
    "m_question": ("Type a question first.", "请先输入问题。"),
    "m_pick_targets": ("Pick at least one model to answer.", "请至少选择一个回答的模型。"),
    "m_deploy_first": ("Deploy a model first (tab 4).", "请先在第 4 个标签页部署模型。"),
    "m_error": ("Error: {e}", "错误：{e}"),
    # the job queue and owners
    "m_owner": ("Started by **{who}**", "发起人：**{who}**"),
    "m_queued": ("Queued, number {n} in line: {why}", "排队中，第 {n} 位：{why}"),
    "q_starting": ("starting now", "即将开始"),
    "q_behind": ("behind {name}, which came first", "排在先来的 {name} 之后"),
    "q_gpu": ("waiting for GPU {gpu}: in use by {holders} of {size} GiB; it needs {need} GiB and {free} GiB are free",
              "等待 GPU {gpu}：已被 {holders} 占用，共 {size} GiB；它需要 {need} GiB，目前空闲 {free} GiB"),
    "q_cpu_shared": ("{names} already runs on this machine's {cores} CPU cores: a {kind} beside it makes "
                     "both slower, often several times. Stop it first, or expect that.",
                     "{names} 已在本机的 {cores} 个 CPU 核心上运行：再启动一个{kind}会让两者都变慢"
                     "（常常慢好几倍）。请先停止它，或做好变慢的准备。"),
    "k_train": ("training run", "训练任务"), "k_serve": ("server", "推理服务"),
    "m_serve_gone": ("The deployment {name} ({id}) is no longer running ({status}){why}. Deploy it again on tab 4.",
                     "部署 {name}（{id}）已不在运行（{status}）{why}。请在第 4 个标签页重新部署。"),
    # knowledge bases
    "k_base": ("Knowledge base", "知识库"),
    "k_manage": ("New, rename or delete a knowledge base", "新建、重命名或删除知识库"),
    "k_name": ("Name (new, or the new name)", "名称（新建或重命名后的名称）"),
    "k_embed": ("Embedding model", "向量模型"),
    "i_k_embed": ("Empty: builtin:all-MiniLM-L6-v2 (English), or builtin:multilingual-e5-small (reads Chinese "
                  "and English) when made from the Chinese page; both offline. Or a local folder, or a hub id such as "
                  "BAAI/bge-small-zh-v1.5",
                  "留空：从中文页面新建时用 builtin:multilingual-e5-small（中英文都能读），否则用 "
                  "builtin:all-MiniLM-L6-v2（英文）；两者都可离线使用。也可以填本地文件夹，或 Hub 上的模型，如 "
                  "BAAI/bge-small-zh-v1.5"),
    "k_size": ("Chunk size (tokens of the embedding model)", "文本块大小（按向量模型的 token 计）"),
    "k_overlap": ("Overlap (tokens)", "重叠（token）"),
    "k_splitter": ("Splitter", "切分方式"),
    "i_k_splitter": ("sentence: never cuts inside a sentence (。！？ count as sentence ends); token: fixed windows",
                     "sentence：不在句子中间切开（。！？视为句末）；token：固定长度窗口"),
    "k_rerank": ("Reranker (optional, for the chosen knowledge base)", "重排序模型（可选，作用于当前知识库）"),
    "i_k_rerank": ("A cross-encoder that reads the question with each of the first search's best chunks and "
                   "reorders them: a hub id such as BAAI/bge-reranker-base (Chinese and English) or "
                   "cross-encoder/ms-marco-MiniLM-L6-v2 (English), or a local folder. Empty = off. Evaluate with "
                   "and without it before relying on it.",
                   "交叉编码器会把问题与初检最相关的每个文本块一起阅读并重新排序：可填 Hub 上的模型，如 BAAI/bge-reranker-base"
                   "（中英文）或 cross-encoder/ms-marco-MiniLM-L6-v2（英文），或本地文件夹。留空表示不重排序。"
                   "启用前请先评估有无重排序的效果。"),
    "k_set_rerank": ("Use this reranker", "使用该重排序模型"),
    "k_reranked": (" · reranked by `{model}`", " · 由 `{model}` 重排序"),
    "k_create": ("Create", "新建"), "k_rename": ("Rename", "重命名"), "k_delete_base": ("Delete", "删除"),
    "k_folder": ("…or a whole folder", "……或整个文件夹"),
    "k_chunks": ("Chunks", "查看文本块"), "k_chunk_list": ("Chunks of the document", "文档的文本块"),
    "k_mode": ("Search", "检索方式"),
    "k_facts": ("Embedding model `{model}` · chunks of {size} tokens, overlap {overlap}, {splitter} splitter · "
                "{n} chunks stored · Qdrant: {where}",
                "向量模型 `{model}` · 文本块 {size} token，重叠 {overlap}，{splitter}切分 · 已存 {n} 个文本块 · Qdrant：{where}"),
    "k_local": ("local mode on disk", "本地模式（磁盘）"),
    "k_started": ("Adding {n} item(s)…", "正在加入 {n} 项……"),
    "k_progress": ("Files {files}/{total} · {chunks} chunks embedded", "文件 {files}/{total} · 已向量化 {chunks} 个文本块"),
    "k_eval": ("Evaluate retrieval: recall@k and MRR for dense, BM25 and hybrid search",
               "评估检索效果：稠密、BM25 与混合检索的 recall@k 和 MRR"),
    "k_eval_intro": ("One line per question: `{\"question\": ..., \"document\": ...}` (JSONL), or CSV with those "
                     "columns; an optional `contains` names a phrase the right chunk holds. The samples make a "
                     "knowledge base of public-domain texts and load their questions.",
                     "每行一个问题：`{\"question\": ..., \"document\": ...}`（JSONL），或带这些列的 CSV；可选的 "
                     "`contains` 指定正确文本块中应包含的短语。示例会用公版文本新建知识库并载入问题。"),
    "k_sample_en": ("English sample", "英文示例"), "k_sample_zh": ("Chinese sample", "中文示例"),
    "k_eval_upload": ("Upload a set", "上传评测集"), "k_eval_set": ("Labelled questions", "带标注的问题"),
    "k_eval_run": ("Evaluate", "开始评估"), "k_eval_scores": ("Scores", "得分"),
    "k_learned": ("hybrid, learned weights (dense {share:.1f})", "混合，学得的权重（向量 {share:.1f}）"),
    "k_learned_short": ("learned {share:.1f}", "学得 {share:.1f}"),
    "k_use_learned": ("Use the learned weights for this base", "为这个知识库使用学得的权重"),
    "k_auto_weights": ("Back to automatic weights", "恢复自动权重"),
    "k_weights_now": ("This base's hybrid search now fuses with a dense share of {share:.1f} (BM25 the rest).",
                      "这个知识库的混合检索现在按向量 {share:.1f}（其余给 BM25）融合。"),
    "k_weights_now_auto": ("This base's hybrid search weighs the two lists by how much of each question its "
                           "embedding model reads.",
                           "这个知识库的混合检索按向量模型能读懂问题的程度来分配两路结果的权重。"),
    "m_eval_first": ("Run an evaluation first: it finds the weights.", "请先运行一次评估：它会找出权重。"),
    "k_eval_ranks": ("Rank of the right document per question (- = not in the top 5)",
                     "每个问题中正确文档的排名（- 表示不在前 5）"),
    # agentic RAG and GraphRAG
    "rp_title": ("Agentic RAG and GraphRAG: several facts, tools, two hops", "Agentic RAG 与 GraphRAG：多个事实、工具调用、两跳推理"),
    "rp_intro": ("**Agentic RAG** plans, searches once per fact, may use a calculator, then answers (every step "
                 "shown). **GraphRAG** first builds an entity-relation graph from the chosen knowledge base with "
                 "the chosen model, then answers by walking two hops of it. Both use a model deployed in tab 4.",
                 "**Agentic RAG** 会先规划，每个事实检索一次，必要时调用计算器，然后回答（每一步都会显示）。"
                 "**GraphRAG** 先用所选模型从所选知识库构建实体关系图，再沿图走两跳来回答。两者都使用第 4 页部署的模型。"),
    "rp_question": ("Question", "问题"), "rp_agent": ("Ask the agent", "交给智能体"),
    "rp_graph_ask": ("Ask the graph", "用知识图谱回答"), "rp_build": ("Build the graph", "构建知识图谱"),
    "rp_show": ("Show the graph", "查看知识图谱"), "rp_graph": ("Graph (subject, relation, object)", "知识图谱（主体、关系、客体）"),
    "rp_answer": ("Answer", "回答"), "rp_paths": ("Facts from the graph", "图谱中找到的事实"),
    "rp_building": ("The model is reading the documents for facts: {done} of {total} chunks…",
                    "模型正在从文档中提取事实：已读 {done}/{total} 个文本块…"),
    "rp_built": ("Built a graph of {n} facts.", "已构建包含 {n} 条事实的知识图谱。"),
    # deploy: restart and benchmark
    "restart": ("Restart", "重启"),
    "bench_title": ("Benchmark: what batching and prefix caching buy on this machine",
                    "基准测试：批处理和前缀缓存在本机带来多少提升"),
    "b_intro": ("Starts vLLM twice with the studio's settings on the active model and sends the same "
                "prompts through it and through plain transformers `generate`. Takes a few minutes; "
                "stop other deployments first for clean numbers.",
                "用工作室的设置对当前模型启动两次 vLLM，把同样的提示分别交给 vLLM 和原生 transformers "
                "`generate`。需要几分钟；为得到干净的数字，请先停止其他部署。"),
    "b_prompts": ("Prompts sent at once", "同时发送的提示数"),
    "b_tokens": ("Tokens per answer", "每个回答的 token 数"),
    "b_run": ("Run benchmark", "运行基准测试"),
    "b_none": ("No benchmark yet.", "还没有运行过基准测试。"),
    "b_head": ("{n} prompts × {t} tokens on {dev}, measured here:", "在 {dev} 上测得（{n} 个提示 × {t} 个 token）："),
    "b_repeats": ("Each side ran {k} times: the median, with the lowest and highest run.",
                  "每一方各跑 {k} 次：取中位数，括号里是最低和最高的一次。"),
    "plan_title": ("Launch settings for this machine", "本机的启动设置"),
    "m_plan_used": ("Launched with: {plan}", "启动设置：{plan}"),
    "plan_intro": ("Chosen from this machine's cores, instructions and memory when you deploy; dtype and "
                   "KV-cache space above override them.",
                   "部署时按本机的核数、指令集和内存选定；上面的 dtype 和 KV 缓存空间可以覆盖它们。"),
    "b_cols": ("| | measured on this machine | what the primer claims |",
               "| | 本机实测 | 教程中的说法 |"),
    "b_vs_single": ("vLLM vs transformers, one prompt at a time", "vLLM 对比 transformers 逐条生成"),
    "b_vs_batched": ("vLLM vs transformers, all prompts in one batch", "vLLM 对比 transformers 整批生成"),
    "b_prefix": ("Time to first token with a shared system prompt of {n} tokens, prefix caching off → on",
                 "共享系统提示（{n} 个 token）下的首 token 时间，前缀缓存 关 → 开"),
    "claim_single": ("10-15× faster than plain PyTorch inference (a GPU figure)",
                     "比原生 PyTorch 推理快 10-15 倍（GPU 上的数字）"),
    "claim_batched": ("no claim", "未提及"),
    "claim_prefix": ("vLLM cannot share a prefix; only SGLang's RadixAttention can. (vLLM has automatic "
                     "prefix caching, on by default: the row on the left is it.)",
                     "vLLM 不支持前缀共享，只有 SGLang 的 RadixAttention 可以。（vLLM 其实有自动前缀缓存，"
                     "默认开启：左边这一格就是它的效果。）"),
}

TEXT.update(NOTICES)
TEXT.update(MORE)
TEXT.update(TUNE)

STATUS = {"queued": "排队中", "running": "运行中", "succeeded": "已完成", "failed": "失败",
          "cancelled": "已取消", "lost": "已丢失", "starting": "启动中", "ready": "就绪"}

I18N = gr.I18n(en={k: v[0] for k, v in TEXT.items()}, **{"zh-CN": {k: v[1] for k, v in TEXT.items()}})


def L(key: str):
    """A label translated in the browser."""
    return I18N(key)


def zh(request: gr.Request | None) -> bool:
    lang = (request.headers.get("accept-language", "") if request is not None else "").lower()
    return lang.startswith("zh")


# English counts of one take the singular ("1 chunk", not "1 chunks").
_ONE = re.compile(r"(?<![\d.,])1 (chunk|row|file|document|step|token|point|question|run|answer|adapter)s\b")


def msg(request: gr.Request | None, key: str, **kw) -> str:
    """A message from a handler, in the language the browser asks for."""
    if zh(request):
        return TEXT[key][1].format(**kw)
    return _ONE.sub(r"1 \1", TEXT[key][0].format(**kw))


def said(request: gr.Request | None, x) -> str:
    """A service's message (studio.words.Said) or exception, in the browser's language."""
    return words.pick(x, zh(request))


def status(request: gr.Request | None, st: str) -> str:
    return STATUS.get(st, st) if zh(request) else st
