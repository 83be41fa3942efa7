"""The UI's strings for choosing and tuning beyond SFT, in English and Chinese (tabs/i18n.py
merges them): what a model can do here, preference training, runs compared, evaluation, data
drafted from documents, and export for local runtimes."""
from __future__ import annotations

# key: (English, 简体中文)
TUNE = {
    # Models tab: can this installation take the model?
    "f_train_here": ("Trains here", "可在这里训练"),
    "f_serve_here": ("Serves here", "可在这里部署"),
    "w_train_here": ("asked of the training environment's LLaMA-Factory and transformers",
                     "由训练环境中的 LLaMA-Factory 和 transformers 回答"),
    "w_serve_here": ("asked of the serving environment's vLLM", "由部署环境中的 vLLM 回答"),
    "v_yes": ("yes", "可以"),
    "v_yes_lora": ("yes, with LoRA adapters", "可以，支持 LoRA 适配器"),
    "v_no": ("no: {why}", "不行：{why}"),
    "v_unchecked": ("{why}", "{why}"),
    "m_note": ("Note: {note}", "提示：{note}"),
    # Train tab: what the run learns from
    "stage": ("Training stage", "训练阶段"),
    "st_sft": ("SFT: learn the answers", "SFT：学习标准回答"),
    "st_dpo": ("DPO: prefer the better of two answers", "DPO：在两个回答中偏好较好的"),
    "st_orpo": ("ORPO: SFT and preference at once, no reference model", "ORPO：同时做 SFT 和偏好学习，无需参考模型"),
    "st_kto": ("KTO: answers marked good or bad", "KTO：学习被标为好或坏的回答"),
    "pref_beta": ("Beta", "beta"),
    "i_pref_beta": ("how far from the starting model it may move (ORPO: the weight of the preference term); 0.1 is typical",
                    "允许偏离初始模型的程度（ORPO 中是偏好项的权重）；常用 0.1"),
    "reward_curve": ("Reward margin and accuracy (chosen vs rejected)", "奖励差值与准确率（较好回答对比较差回答）"),
    "c_margin": ("reward margin", "奖励差值"), "c_accuracy": ("chosen ranked first", "较好回答排在前面的比例"),
    "p_reference": ("Reference model (DPO/KTO, frozen copy)", "参考模型（DPO/KTO，冻结副本）"),
    # Dataset tab: the table's title follows its format
    "rows_chat": ("Rows (conversation / role / content: one message per row)", "数据行（对话编号 / 角色 / 内容：每行一条消息）"),
    "rows_preference": ("Rows (instruction / input / chosen / rejected)", "数据行（指令 / 输入 / 较好回答 / 较差回答）"),
    # Dataset tab: a preference pair through the template
    "m_tokens_pair": ("Cutoff {cutoff}. Chosen answer (green): {kept} tokens kept, {trained} trained. "
                      "Rejected answer (red): {kept_no} kept, {trained_no} trained. DPO raises the first "
                      "against the second.",
                      "截断长度 {cutoff}。较好回答（绿色）：保留 {kept} 个 token，其中 {trained} 个参与训练。"
                      "较差回答（红色）：保留 {kept_no} 个，{trained_no} 个参与训练。DPO 让模型更倾向前者而远离后者。"),
    # Train tab: runs compared
    "compare_runs": ("Compare runs", "对比训练任务"),
    "runs_to_compare": ("Runs (two to four)", "训练任务（两到四个）"),
    "compare_btn": ("Compare", "对比"),
    "runs_curves": ("Loss and eval loss of each run", "各任务的训练损失与验证损失"),
    "runs_settings": ("Settings (a highlighted row differs between the runs)", "设置（高亮的行表示各任务不同）"),
    "runs_figures": ("Where each run ended, and its latest scores", "各任务的最终结果与最新评估分数"),
    "runs_answer": ("Answer the prompts with every run and the base model", "用每个任务和基座模型回答这些提示词"),
    "m_runs_answering": ("Answering with every run; the table fills in when done.", "正在用每个任务回答，完成后表格会自动填充。"),
    "h_setting": ("setting", "设置"), "h_figure": ("figure", "指标"),
    "rf_status": ("status", "状态"), "rf_steps": ("steps", "步数"), "rf_final loss": ("final loss", "最终训练损失"),
    "rf_final eval loss": ("final eval loss", "最终验证损失"), "rf_reward margin": ("reward margin", "奖励差值"),
    "rf_time": ("time", "用时"), "rf_perplexity": ("perplexity", "困惑度"), "rf_bleu-4": ("BLEU-4", "BLEU-4"),
    "rf_rouge-l": ("ROUGE-L", "ROUGE-L"), "rf_scored on": ("scored on", "评估所用数据"), "rf_judge score": ("judge score (1-5)", "评审得分（1-5）"),
    # Train tab: evaluation
    "evaluate_run": ("Evaluate this run", "评估这个任务"),
    "ev_dataset": ("Rows to score", "评估数据"),
    "ev_held_out": ("This run's held-out split", "本任务留出的验证集"),
    "ev_rows_max": ("At most rows", "最多行数"),
    "ev_new_tokens": ("New tokens per answer", "每个回答的最大 token 数"),
    "ev_use_judge": ("Also grade each answer with a judge model", "再用评审模型给每个回答打分"),
    "ev_judge": ("Judge model", "评审模型"),
    "ev_rubric": ("Rubric the judge grades by (1 to 5)", "评审模型的打分标准（1 到 5 分）"),
    "ev_start": ("Evaluate", "开始评估"),
    "ev_started": ("Evaluation {name} started.", "评估任务 {name} 已开始。"),
    "ev_none": ("No evaluation of this run yet.", "这个任务还没有评估。"),
    "ev_rows": ("{n} rows scored", "已评估 {n} 行"),
    "ev_judged": ("judge **{mean:.2f}** / 5 ({model}, {n} answers graded)",
                  "评审得分 **{mean:.2f}** / 5（{model}，已评 {n} 个回答）"),
    "ev_phase_starting": ("starting", "正在启动"),
    "ev_phase_loss": ("measuring the loss on {total} rows", "正在计算 {total} 行的损失"),
    "ev_phase_predict": ("answering {total} questions (BLEU, ROUGE)", "正在回答 {total} 个问题（BLEU、ROUGE）"),
    "ev_phase_judge": ("the judge has graded {done} of {total}", "评审模型已评 {done} / {total}"),
    "ev_phase_done": ("done", "完成"),
    "h_question": ("question", "问题"), "h_reference": ("reference", "参考答案"), "h_answer": ("answer", "回答"),
    "h_score": ("score", "得分"), "h_reason": ("reason", "理由"),
    # Dataset tab: drafting from documents
    "rows_grounded": ("Rows (instruction / input / output / source: the passage each answer rests on)",
                      "数据行（指令 / 输入 / 输出 / 出处：每个回答所依据的段落）"),
    "draft_title": ("Draft from documents: a deployed model writes questions and answers from a knowledge base",
                    "从文档生成：用已部署的模型根据知识库写出问答"),
    "draft_intro": ("The model reads the knowledge base chunk by chunk and writes the questions a customer would "
                    "ask; the answers are the passage's own sentences (or, if you choose, the model's, kept only "
                    "where the passage supports them). Every row keeps its passage and waits as a draft: open it, read "
                    "and fix the rows, then save it as a dataset to train on. Tune on your documents, then retrieve "
                    "from them. A small model writes poor questions, in Chinese especially: read before you train.",
                    "模型逐块阅读知识库，写出客户可能会问的问题；回答是段落中的原句（也可以选择由模型撰写，只保留段落支持的回答）。"
                    "每行都保留它的段落，先作为草稿保存：打开草稿，阅读并修改各行，再保存为数据集用于训练。先用你的文档微调，"
                    "再从这些文档中检索。小模型写的问题质量不高，中文尤其如此：训练前请务必审阅。"),
    "draft_model": ("Model that writes (a deployment)", "执笔模型（已部署的模型）"),
    "draft_chunks": ("Chunks", "文本块数"), "draft_per_chunk": ("Questions per chunk", "每块问题数"),
    "draft_name": ("Draft name", "草稿名称"),
    "draft_answers": ("Answers", "回答"),
    "draft_quote": ("the passage's own sentences (the model writes the questions)", "摘自段落原句（模型写问题）"),
    "draft_write": ("written by the model, dropped where the passage does not support them",
                    "由模型撰写，段落不支持的会被丢弃"), "draft_start": ("Draft the rows", "开始生成"),
    "draft_progress": ("Draft **{name}** · {status} · {done} of {total} chunks read · {rows} rows kept, "
                       "{dropped} dropped (no usable question, or an answer its passage does not support)",
                       "草稿 **{name}** · {status} · 已读 {done} / {total} 个文本块 · 保留 {rows} 行，"
                       "丢弃 {dropped} 行（没有可用的问题，或段落不支持其回答）"),
    "draft_waiting": ("Drafts waiting for review", "待审阅的草稿"),
    "draft_open": ("Open in the editor", "在编辑器中打开"),
    "draft_opened": ("Opened the draft {name}: {n} rows. Read each answer against its source, fix or delete rows, "
                     "then save it as a dataset.",
                     "已打开草稿 {name}：{n} 行。请对照出处阅读每个回答，修改或删除行，然后保存为数据集。"),
    # Train tab: export for local runtimes
    "gguf_title": ("Export for llama.cpp and Ollama", "导出到 llama.cpp 和 Ollama"),
    "gguf_intro": ("The merged model (merge the run first) as one GGUF file, written by llama.cpp's own converter "
                   "and read back to check that it answers as the model does, with an Ollama Modelfile beside it. "
                   "q8_0 is half the size of f16 and answers almost the same; the smaller 4-bit types need "
                   "llama.cpp's compiled llama-quantize, which the studio does not build.",
                   "把合并后的模型（请先合并）导出为一个 GGUF 文件：由 llama.cpp 自己的转换程序写出，再读回来检查它的回答"
                   "是否与原模型一致，旁边附带 Ollama 的 Modelfile。q8_0 只有 f16 一半大小，回答几乎相同；更小的 4 位格式需要"
                   "llama.cpp 编译好的 llama-quantize，工作台不会编译它。"),
    "gguf_type": ("Precision", "精度"), "gguf_q8": ("q8_0 (8-bit, half of f16)", "q8_0（8 位，f16 的一半）"),
    "gguf_f16": ("f16 (as the model)", "f16（与模型一致）"),
    "gguf_start": ("Export", "导出"), "gguf_files": ("Files", "文件"),
    "gguf_done": ("Checked: {same:.0f}% of the greedy tokens as the merged model · {mib:.0f} MiB\n\n"
                  "`{gguf}`\n\nllama.cpp: `llama-cli -m {gguf} -cnv`\n\n"
                  "Ollama: `cd {folder} && ollama create {name} -f Modelfile && ollama run {name}`",
                  "已检查：贪心解码的 token 与合并后的模型 {same:.0f}% 一致 · {mib:.0f} MiB\n\n"
                  "`{gguf}`\n\nllama.cpp：`llama-cli -m {gguf} -cnv`\n\n"
                  "Ollama：`cd {folder} && ollama create {name} -f Modelfile && ollama run {name}`"),
}
