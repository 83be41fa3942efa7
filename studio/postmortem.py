"""Read a failed job's log and say what went wrong and what to change, in plain words, in
English or Chinese."""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    cause: str
    fixes: tuple[str, ...]
    evidence: str  # the log line that matched


MEMORY_FIXES = (
    ("Lower the batch size (raise gradient accumulation to keep the effective batch).",
     "调小批大小（同时调大梯度累积，保持等效批大小）。"),
    ("Lower the cutoff length: activations and logits grow with it.",
     "调小截断长度：激活值和 logits 随它增长。"),
    ("Keep gradient checkpointing on.", "保持梯度检查点开启。"),
    ("Use QLoRA (4-bit weights) on a CUDA GPU, or fewer LoRA target modules.",
     "在 CUDA GPU 上改用 QLoRA（4 位权重），或减少 LoRA 目标模块。"),
    ("Check the memory estimate on the Models tab before starting.",
     "开始前先在“模型”页看一下显存估算。"),
)

# (pattern over the log, cause, fixes), each text as (English, 中文). Where several match, the
# one nearest the end of the log wins: the cause comes last, warnings earlier are harmless.
RULES = [
    (r"CUDA out of memory|OutOfMemoryError|DefaultCPUAllocator: can't allocate memory"
     r"|not enough memory",
     ("Out of memory.", "内存（显存）不足。"), MEMORY_FIXES),
    (r"No space left on device|Disk quota exceeded",
     ("The disk is full.", "磁盘已满。"),
     (("Delete old runs or checkpoints under the data root, or move STUDIO_HOME to a bigger disk.",
       "删除数据目录下旧的训练或检查点，或把 STUDIO_HOME 换到更大的磁盘。"),)),
    (r"Cannot find valid samples|Cannot find any valid|KeyError: '(instruction|output|conversations|messages)'"
     r"|Unknown dataset format|Invalid role tag|Column .* not in the dataset",
     ("The dataset does not match its declared format.", "数据集与它声明的格式不符。"),
     (("Open it on the Dataset tab and press Check: every problem row is listed.",
       "在“数据集”页打开它并点“检查”：每一行问题都会列出来。"),
      ("Make sure every row has an instruction and a non-empty output.",
       "确保每一行都有指令，且输出不为空。"))),
    # Errors only: "No chat template is set" is a warning many runs print and then succeed.
    (r"Template .* does not exist|Invalid template|Cannot find the template"
     r"|(Error|Exception): .*chat[ _]template",
     ("The chat template does not fit this model.", "对话模板与这个模型不匹配。"),
     (("Pick the model's own family template (the Models tab shows it).",
       "选择该模型所属系列的模板（“模型”页会显示）。"),)),
    (r"trust_remote_code|requires you to execute the configuration file",
     ("This model ships its own code, which the studio does not run unless you allow it.",
      "这个模型自带代码，除非你允许，工作室不会运行它。"),
     (("Use a model transformers supports natively (its -hf variant), or allow remote code for "
       "this model only if you trust its authors.",
       "换用 transformers 原生支持的版本（通常带 -hf 后缀）；只有信任作者时才允许运行远程代码。"),)),
    (r"does not appear to have a file named|is not a local folder and is not a valid model"
     r"|Can't load tokenizer|Couldn't instantiate the backend tokenizer|Error no file named"
     r"|OSError: .*config\.json",
     ("The model files could not be loaded.", "模型文件无法加载。"),
     (("Check the model folder on the Models tab, or download the model again.",
       "在“模型”页检查模型文件夹，或重新下载模型。"),)),
    (r"Address already in use",
     ("The port is taken by another program.", "端口被其他程序占用。"),
     (("Stop the other deployment, or wait a few seconds and deploy again.",
       "停止另一个部署，或等几秒后重新部署。"),)),
]
KILLED = (("The process was stopped from outside by signal {sig} ({name}): by the system when "
           "memory ran out, or by a person or program (kill, a container limit, a shutdown).",
           "进程被外部以信号 {sig}（{name}）终止：可能是内存耗尽时被系统终止，也可能是被人或其他"
           "程序终止（kill、容器限制、关机）。"))
KILLED_FIXES = (("If memory ran out: lower the batch size or the cutoff length, and check the "
                 "memory estimate on the Models tab.",
                 "如果是内存耗尽：调小批大小或截断长度，并在“模型”页查看显存估算。"),
                ("Otherwise nothing in the run was wrong: resume it from its last checkpoint.",
                 "否则训练本身没有问题：从最近的检查点继续训练即可。"))
UNKNOWN = ("The job failed; the last error in its log is shown.", "任务失败；下面是日志里最后一条错误。")
SIGNALS = {9: "SIGKILL", 15: "SIGTERM", 6: "SIGABRT", 2: "SIGINT", 1: "SIGHUP", 11: "SIGSEGV"}
# How much of the log's end is read when it holds no traceback: the failure is near the end.
TAIL_LINES = 60


def _failure_region(log: str) -> tuple[str, int]:
    """The part of the log where the failure is: from the last traceback on, else the last lines.
    Returned with its offset in the log."""
    at = log.rfind("Traceback (most recent call last)")
    if at == -1:
        lines = log.splitlines(keepends=True)
        at = len(log) - sum(len(x) for x in lines[-TAIL_LINES:])
    return log[at:], at


def _line(log: str, start: int, end: int) -> str:
    a = log.rfind("\n", 0, start) + 1
    b = log.find("\n", end)
    return log[a:b if b != -1 else None].strip()[:300]


def diagnose(log: str, exit_code: int | None = None, lang: str = "en") -> Finding | None:
    k = 1 if lang.startswith("zh") else 0
    region, _ = _failure_region(log)
    best = None
    for pattern, cause, fixes in RULES:
        for m in re.finditer(pattern, region):
            if best is None or m.start() >= best[0].start():
                best = (m, cause, fixes)
    if best is not None:
        m, cause, fixes = best
        return Finding(cause[k], tuple(f[k] for f in fixes), _line(region, m.start(), m.end()))
    if exit_code is not None and (exit_code < 0 or exit_code in (137, 143)):
        sig = -exit_code if exit_code < 0 else exit_code - 128
        return Finding(KILLED[k].format(sig=sig, name=SIGNALS.get(sig, "?")),
                       tuple(f[k] for f in KILLED_FIXES), f"exit code {exit_code}")
    lines = [ln for ln in log.strip().splitlines() if ln.strip()]
    if lines:  # unknown: show the last error-looking line so the user has something to search
        errors = [ln for ln in lines if re.search(r"Error|Exception|error:", ln)]
        return Finding(UNKNOWN[k], (), (errors or lines)[-1].strip()[:300])
    return None
