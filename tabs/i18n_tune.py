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
    "rf_rouge-l": ("ROUGE-L", "ROUGE-L"), "rf_judge score": ("judge score (1-5)", "评审得分（1-5）"),
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
}
