"""Read a failed job's log and say what went wrong and what to change, in plain words."""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    cause: str
    fixes: tuple[str, ...]
    evidence: str  # the log line that matched


# (pattern over the log, cause, fixes). First match wins, so the most specific come first.
RULES = [
    (r"CUDA out of memory|OutOfMemoryError|DefaultCPUAllocator: can't allocate memory"
     r"|not enough memory",
     "Out of memory.",
     ("Lower the batch size (raise gradient accumulation to keep the effective batch).",
      "Lower the cutoff length: activations and logits grow with it.",
      "Keep gradient checkpointing on.",
      "Use QLoRA (4-bit weights) on a CUDA GPU, or fewer LoRA target modules.",
      "Check the memory estimate on the Models tab before starting.")),
    (r"No space left on device|Disk quota exceeded",
     "The disk is full.",
     ("Delete old runs or checkpoints under the data root, or move STUDIO_HOME to a bigger disk.",)),
    (r"Cannot find valid samples|Cannot find any valid|KeyError: '(instruction|output|conversations|messages)'"
     r"|Unknown dataset format|Invalid role tag|Column .* not in the dataset",
     "The dataset does not match its declared format.",
     ("Open it on the Dataset tab and press Check: every problem row is listed.",
      "Make sure every row has an instruction and a non-empty output.")),
    (r"Template .* does not exist|Invalid template|chat template",
     "The chat template does not fit this model.",
     ("Pick the model's own family template (the Models tab shows it).",)),
    (r"trust_remote_code|requires you to execute the configuration file",
     "This model ships its own code, which the studio does not run unless you allow it.",
     ("Use a model transformers supports natively (its -hf variant), or allow remote code for "
      "this model only if you trust its authors.",)),
    (r"does not appear to have a file named|is not a local folder and is not a valid model"
     r"|Can't load tokenizer|Couldn't instantiate the backend tokenizer|Error no file named"
     r"|OSError: .*config\.json",
     "The model files could not be loaded.",
     ("Check the model folder on the Models tab, or download the model again.",)),
    (r"Address already in use",
     "The port is taken by another program.",
     ("Stop the other deployment, or wait a few seconds and deploy again.",)),
]
KILLED = ("The process was killed from outside (exit signal {sig}), most often by the system when "
          "memory ran out.")


def diagnose(log: str, exit_code: int | None = None) -> Finding | None:
    for pattern, cause, fixes in RULES:
        m = re.search(pattern, log)
        if m:
            start = log.rfind("\n", 0, m.start()) + 1
            end = log.find("\n", m.end())
            return Finding(cause, fixes, log[start:end if end != -1 else None].strip()[:300])
    if exit_code is not None and exit_code < 0 or exit_code in (137, -9):
        sig = -exit_code if exit_code < 0 else exit_code - 128
        return Finding(KILLED.format(sig=sig), RULES[0][2], f"exit code {exit_code}")
    lines = [ln for ln in log.strip().splitlines() if ln.strip()]
    if lines:  # unknown: show the last error-looking line so the user has something to search
        errors = [ln for ln in lines if re.search(r"Error|Exception|error:", ln)]
        return Finding("The job failed; the last error in its log is shown.", (),
                       (errors or lines)[-1].strip()[:300])
    return None
