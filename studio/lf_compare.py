"""Answer the same prompts with several models side by side: a base model and runs trained on it
(LoRA adapters, or whole models from a full fine-tune). Runs in the train environment
(transformers + peft) as a job:

    <train python> -I studio/lf_compare.py REQUEST.json RESULT.json

request: {"runs": [{"name", "model", "adapter" or null}], "base": bool, "prompts", "max_new_tokens"}
         (or the before/after form {"model", "adapter", "prompts"}: base and "tuned")
result:  {"rows": [{"prompt", "base", <run name>: answer, ...}]}
Greedy decoding through the model's own chat template, so differences come from the training alone.
"""
import json
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer


def answers(model, tokenizer, prompts, max_new_tokens, label):
    out = []
    for p in prompts:
        ids = tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                            return_tensors="pt", return_dict=True)
        with torch.no_grad():
            gen = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False,
                                 repetition_penalty=1.05, pad_token_id=tokenizer.pad_token_id)
        out.append(tokenizer.decode(gen[0][ids["input_ids"].shape[1]:], skip_special_tokens=True).strip())
        print(f"{label}: answered {len(out)}/{len(prompts)}", flush=True)
    return out


def main():
    req = json.load(open(sys.argv[1], encoding="utf-8"))
    if "adapter" in req:  # base vs one adapter, as the Train tab's before/after asks
        req = {**req, "base": True, "runs": [{"name": "tuned", "model": req["model"], "adapter": req["adapter"]}]}
    prompts, n = req["prompts"], int(req.get("max_new_tokens", 96))
    cols: dict[str, list] = {}
    loaded = {}  # base folder -> model, so runs on one base load it once

    def base_model(folder):
        if folder not in loaded:
            loaded.clear()  # one base in memory at a time
            loaded[folder] = (AutoTokenizer.from_pretrained(folder),
                              AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval())
        return loaded[folder]

    if req.get("base"):  # a full fine-tune's "model" is the tuned one: its base is named apart
        bases = sorted({r.get("base") or r["model"] for r in req["runs"]})
        for folder in bases:
            tokenizer, model = base_model(folder)
            name = "base" if len(bases) == 1 else f"base {folder.rstrip('/').rsplit('/', 1)[-1]}"
            cols[name] = answers(model, tokenizer, prompts, n, name)
    for run in sorted(req["runs"], key=lambda r: r["model"]):
        tokenizer, model = base_model(run["model"])
        tuned = PeftModel.from_pretrained(model, run["adapter"]).eval() if run.get("adapter") else model
        cols[run["name"]] = answers(tuned, tokenizer, prompts, n, run["name"])
        if run.get("adapter"):
            tuned.unload()  # the base back as it was, for the next run on it
    rows = [{"prompt": p, **{k: v[i] for k, v in cols.items()}} for i, p in enumerate(prompts)]
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump({"rows": rows}, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
