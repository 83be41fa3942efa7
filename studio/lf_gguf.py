"""Export a merged model for local runtimes, as a job in the training environment:

    <train python> -I studio/lf_gguf.py REQUEST.json

request: {"model": merged folder, "out": export folder, "name", "outtype": f16|q8_0|bf16|f32,
          "converter": folder holding llama.cpp's convert_hf_to_gguf.py, "modelfile": Ollama's text}
1. llama.cpp's own converter (convert_hf_to_gguf.py, with the gguf library of its commit) writes
   <name>-<outtype>.gguf.
2. The file is read back through transformers' GGUF loader, an independent reader, and its answer
   to two prompts compared with the merged model's, greedy (verify.json): a file that does not
   answer as the model it came from fails the job. One model in memory at a time, in float32 up to
   BIG parameters (bfloat16 above: an 8B model would need 32 GB for each copy otherwise).
3. Ollama's Modelfile is written beside it (the studio fills in the chat template) once the check
   passes; verify.json goes to the job's folder, and beside the file only then.
Standard library and the environment's transformers and gguf.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROMPTS = ["What is the capital of France?", "保修期是多久？"]
BIG = 2_000_000_000


def convert(req: dict, target: Path) -> None:
    conv = Path(req["converter"])
    env = {**os.environ, "PYTHONPATH": f"{conv / 'gguf-py'}{os.pathsep}{conv}"}  # its own gguf, not the installed one
    rc = subprocess.call([sys.executable, str(conv / "convert_hf_to_gguf.py"), req["model"],
                          "--outfile", str(target), "--outtype", req["outtype"]], env=env)
    if rc != 0 or not target.exists():
        print(f"llama.cpp's converter stopped (exit {rc})", file=sys.stderr)
        raise SystemExit(rc or 1)


def verify(req: dict, target: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(req["model"])
    prompts = [tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                       return_tensors="pt", return_dict=True) for p in PROMPTS]

    def answers(model) -> list:
        with torch.no_grad():
            return [model.generate(**ids, max_new_tokens=24, do_sample=False, pad_token_id=tok.pad_token_id)
                    [0, ids["input_ids"].shape[1]:] for ids in prompts]

    dtype = torch.bfloat16 if req.get("big") else torch.float32
    ref = AutoModelForCausalLM.from_pretrained(req["model"], dtype=dtype)
    want = answers(ref.eval())
    del ref
    got = AutoModelForCausalLM.from_pretrained(str(target.parent), gguf_file=target.name, dtype=dtype)
    rows = []
    for p, a, b in zip(PROMPTS, want, answers(got.eval())):
        same = sum(int(x == y) for x, y in zip(a.tolist(), b.tolist())) / max(len(a), len(b), 1)
        rows.append({"prompt": p, "model": tok.decode(a, skip_special_tokens=True),
                     "gguf": tok.decode(b, skip_special_tokens=True), "same_tokens": round(same, 3)})
    return {"file": target.name, "bytes": target.stat().st_size, "outtype": req["outtype"], "answers": rows,
            "same_tokens": round(sum(r["same_tokens"] for r in rows) / len(rows), 3)}


def main(argv: list[str]) -> int:
    req = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    out = Path(req["out"])
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{req['name']}-{req['outtype']}.gguf"
    convert(req, target)
    print("read back through transformers' GGUF loader", flush=True)
    req["big"] = params(req["model"]) > BIG
    found = verify(req, target)
    text = json.dumps(found, ensure_ascii=False, indent=1)
    (Path(argv[0]).parent / "verify.json").write_text(text, encoding="utf-8")
    print(f"same greedy tokens as the merged model: {found['same_tokens']:.0%}", flush=True)
    # 16- and 32-bit files answer as the model does; 8-bit (or a check in bfloat16) may drift a
    # token or two in a long answer
    if found["same_tokens"] < (0.99 if req["outtype"] != "q8_0" and not req["big"] else 0.5):
        return 3
    (out / "Modelfile").write_text(req["modelfile"].replace("{gguf}", target.name), encoding="utf-8")
    (out / "verify.json").write_text(text, encoding="utf-8")
    return 0


def params(folder: str) -> int:
    """The model's parameter count from its safetensors headers (no weights read)."""
    from safetensors import safe_open

    total = 0
    for f in Path(folder).glob("*.safetensors"):
        with safe_open(str(f), "pt") as st:
            for k in st.keys():
                n = 1
                for d in st.get_slice(k).get_shape():
                    n *= d
                total += n
    return total


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
