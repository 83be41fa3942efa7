"""Answer the same prompts with the base model and with base + LoRA adapter, side by side.
Runs in the train environment (transformers + peft) as a job:

    <train python> -I studio/lf_compare.py REQUEST.json RESULT.json

request: {"model", "adapter", "prompts", "max_new_tokens"}; result: {"rows": [{prompt, base, tuned}]}
Greedy decoding through the model's own chat template, so differences come from the adapter alone.
"""
import json
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer


def answers(model, tokenizer, prompts, max_new_tokens):
    out = []
    for p in prompts:
        ids = tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                            return_tensors="pt", return_dict=True)
        with torch.no_grad():
            gen = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False,
                                 repetition_penalty=1.05, pad_token_id=tokenizer.pad_token_id)
        out.append(tokenizer.decode(gen[0][ids["input_ids"].shape[1]:], skip_special_tokens=True).strip())
        print(f"answered {len(out)}/{len(prompts)}", flush=True)
    return out


def main():
    req = json.load(open(sys.argv[1], encoding="utf-8"))
    tokenizer = AutoTokenizer.from_pretrained(req["model"])
    model = AutoModelForCausalLM.from_pretrained(req["model"], dtype=torch.float32)
    model.eval()
    n = int(req.get("max_new_tokens", 96))
    base = answers(model, tokenizer, req["prompts"], n)
    tuned_model = PeftModel.from_pretrained(model, req["adapter"])
    tuned_model.eval()
    tuned = answers(tuned_model, tokenizer, req["prompts"], n)
    rows = [{"prompt": p, "base": b, "tuned": t} for p, b, t in zip(req["prompts"], base, tuned)]
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump({"rows": rows}, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
