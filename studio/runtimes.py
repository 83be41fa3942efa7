"""Export a merged model for local runtimes: a GGUF file for llama.cpp (written by llama.cpp's own
converter, read back and checked against the model: studio/lf_gguf.py, a job) and a Modelfile for
Ollama beside it, under DATA_ROOT/exports/<model>-gguf/."""
from __future__ import annotations

import json
from pathlib import Path

from studio import config, export, models, training
from studio.jobs import Job, JobStore
from studio.words import Said

DRIVER = Path(__file__).with_name("lf_gguf.py")
OUTTYPES = ("q8_0", "f16", "bf16", "f32")  # what the converter writes without llama.cpp's compiled tools

# Ollama's chat template per LLaMA-Factory template family; the rest: Ollama reads the template the
# GGUF file carries (the converter stores the tokenizer's chat template in it).
CHATML = ("{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}{{- range .Messages }}"
          "<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n", "<|im_end|>")
LLAMA3 = ("{{- if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}"
          "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>"
          "{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>")
GEMMA = ("{{- range .Messages }}<start_of_turn>{{ if eq .Role \"assistant\" }}model{{ else }}{{ .Role }}{{ end }}\n"
         "{{ .Content }}<end_of_turn>\n{{ end }}<start_of_turn>model\n", "<end_of_turn>")
TEMPLATES = {"smollm2": CHATML, "qwen": CHATML, "qwen3": CHATML, "llama3": LLAMA3, "gemma2": GEMMA, "gemma3": GEMMA}


class LocalExportError(ValueError):
    """A problem the user can act on; the message says what and how."""


def converter(s: config.Settings) -> Path:
    """Where setup put llama.cpp's converter, beside the training environment."""
    return Path(s.train_python).parents[1] / "share" / "llama.cpp"


def modelfile(template: str, name: str) -> str:
    lines = [f"# Ollama: ollama create {name} -f Modelfile, then ollama run {name}", "FROM ./{gguf}"]
    if template in TEMPLATES:
        text, stop = TEMPLATES[template]
        lines += [f'TEMPLATE """{text}"""', f'PARAMETER stop "{stop}"']
    else:
        lines.append(f"# no TEMPLATE: Ollama uses the chat template stored in the GGUF file ({template})")
    lines.append("PARAMETER temperature 0.3")
    return "\n".join(lines) + "\n"


def _tokenizer_maps(folder: Path) -> bool:
    try:
        return "auto_map" in json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def _source(s: config.Settings, store: JobStore, train_job_id: str) -> tuple[Job, Path]:
    job = store.get(train_job_id)
    if job is None or job.kind != "train":
        raise LocalExportError(Said(f"There is no training run {train_job_id}.", f"没有训练任务 {train_job_id}。"))
    full = Path(job.spec.get("output_dir", ""))
    folder = full if (full / "config.json").exists() and job.spec.get("form", {}).get("method") == "full" \
        else export.merged_dir(s, job)
    if not (folder / "config.json").exists():
        raise LocalExportError(Said(f"Merge {job.name} into a full model first (Merge into a full model): llama.cpp "
                                 "and Ollama run whole models, not adapters.",
                                 f"请先把 {job.name} 合并成完整模型（“合并为完整模型”）：llama.cpp 和 Ollama 运行的是"
                                 "完整模型，而不是适配器。"))
    # llama.cpp's converter loads some families' tokenizers with trust_remote_code on (the job runs
    # offline, so only code inside the folder could run: refuse any)
    if any(folder.glob("*.py")) or "auto_map" in models.read_config(folder) or _tokenizer_maps(folder):
        raise LocalExportError(Said(f"{folder.name} carries code of its own (.py files or auto_map): the converter "
                                    "would run it, so the studio does not export it.",
                                    f"{folder.name} 带有自己的代码（.py 文件或 auto_map）：转换程序会执行这些代码，"
                                    "因此工作台不导出它。"))
    return job, folder


def start(s: config.Settings, store: JobStore, train_job_id: str, outtype: str = "q8_0",
          user: str | None = None) -> Job:
    if outtype not in OUTTYPES:
        raise LocalExportError(Said(f"Export as one of {', '.join(OUTTYPES)}.", f"请从 {'、'.join(OUTTYPES)} 中选择导出精度。"))
    job, folder = _source(s, store, train_job_id)
    conv = converter(s)
    if not (conv / "convert_hf_to_gguf.py").exists():
        raise LocalExportError(Said("llama.cpp's converter is not installed: run scripts/setup.sh once more.",
                                 "没有安装 llama.cpp 的转换程序：请再运行一次 scripts/setup.sh。"))
    for other in store.list(kind="gguf", status=("queued", "running")):
        if other.spec.get("train_job") == job.id:
            raise LocalExportError(Said(f"{job.name} is being exported already: wait for it.",
                                     f"{job.name} 正在导出：请等它完成。"))
    out = s.path("exports") / f"{folder.name}-gguf"
    job_id, path = store.new_folder("gguf")
    template = models.template_for(Path(job.spec["model"]))
    req = {"model": str(folder), "out": str(out), "name": folder.name, "outtype": outtype, "converter": str(conv),
           "modelfile": modelfile(template, folder.name.lower())}
    (path / "request.json").write_text(json.dumps(req, ensure_ascii=False), encoding="utf-8")
    return store.launch("gguf", f"gguf {folder.name}", [s.train_python, "-I", str(DRIVER), str(path / "request.json")],
                        spec={"train_job": job.id, "out": str(out), "outtype": outtype},
                        env=training.train_env(s, path), job_id=job_id, folder=path, owner=user)


def result(job: Job) -> dict | None:
    """A finished export: the check's figures and the files to take away."""
    out = Path(job.spec["out"])
    # this job's own check (a later export of the same run writes another); an export made before
    # the check was kept with its job has it in the export folder only
    for path in (job.folder / "verify.json", out / "verify.json"):
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
            break
        except (OSError, ValueError):
            continue
    else:
        return None
    return {**found, "gguf": str(out / found["file"]), "modelfile": str(out / "Modelfile")}
