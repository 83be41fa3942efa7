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
}
