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
}
