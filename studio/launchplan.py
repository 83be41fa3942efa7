"""vLLM's launch settings on a CPU machine, chosen from the machine itself, each with its reason.

The Deploy tab shows the plan before a deployment starts; every choice can be overridden (the
form's dtype and KV-cache fields, or the STUDIO_SERVE_CPU_* settings). What each choice is worth
was measured with bench/serve_tuning.py on a 2-core AVX-512 machine: see the README.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from studio import config
from studio.words import Said, pick

BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # the CPU multiplies bfloat16 natively


@dataclass
class Choice:
    name: str
    value: str  # a Said where the value is a word, not a name or a number
    why: Said


@dataclass
class Machine:
    cores: list[int]
    flags: set[str]
    mem_gib: float
    lora_plugin: bool  # the studio's vLLM plugin is installed in the serve environment


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def available_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        pass
    return 8.0


def plugin_installed(s: config.Settings) -> bool:
    env = Path(s.serve_python).parent.parent
    return bool(glob.glob(str(env / "lib" / "python*" / "site-packages" / "studio_vllm_cpu_lora-*.dist-info")))


def machine(s: config.Settings) -> Machine:
    return Machine(sorted(os.sched_getaffinity(0)), cpu_flags(), available_gib(), plugin_installed(s))


def _cores(cores: list[int]) -> str:
    contiguous = cores == list(range(cores[0], cores[-1] + 1))
    return f"{cores[0]}-{cores[-1]}" if contiguous and len(cores) > 1 else ",".join(map(str, cores))


def plan(s: config.Settings, m: Machine, dtype: str = "auto", kv_gib: int | None = None,
         kv_bytes_per_token: int | None = None) -> list[Choice]:
    """The CPU launch choices: dtype, KV cache, threads, LoRA kernels, eager."""
    out = []
    want = dtype if dtype != "auto" else s.serve_cpu_dtype
    bf16 = any(f in m.flags for f in BF16_FLAGS)
    if want != "auto":
        out.append(Choice("dtype", want, Said("set by you", "由你设定")))
    elif bf16:
        out.append(Choice("dtype", "bfloat16", Said(
            "this CPU multiplies bfloat16 natively (AVX-512 BF16): about 1.5x the tokens/s of float32 "
            "on the default model, answers as good",
            "这颗 CPU 原生支持 bfloat16 乘法（AVX-512 BF16）：默认模型上每秒 token 数约为 float32 的 1.5 倍，回答一样好")))
    else:
        out.append(Choice("dtype", "float32", Said(
            "this CPU has no bfloat16 instructions: bfloat16 would be emulated and slower",
            "这颗 CPU 没有 bfloat16 指令：用 bfloat16 只能模拟，反而更慢")))
    gib = int(kv_gib or s.serve_cpu_kv_gib or max(1, min(8, int(m.mem_gib / 8))))
    held = ""
    if kv_bytes_per_token:
        per = kv_bytes_per_token * (1 if out[0].value == "float32" else 0.5)  # estimate counts float32
        held = f"{int(gib * 2**30 / per):,}"
    out.append(Choice("VLLM_CPU_KVCACHE_SPACE", f"{gib} GiB", Said(
        f"{m.mem_gib:.0f} GiB of memory free" + (f"; it holds {held} tokens of context" if held else ""),
        f"空闲内存 {m.mem_gib:.0f} GiB" + (f"；可容纳 {held} 个 token 的上下文" if held else ""))))
    if len(m.cores) <= s.serve_cpu_all_cores_upto:
        out.append(Choice("VLLM_CPU_OMP_THREADS_BIND", _cores(m.cores), Said(
            f"{len(m.cores)} cores: the engine computes on all of them (keeping one for vLLM's front end "
            "cost a fifth of the tokens/s on 2 cores)",
            f"{len(m.cores)} 个核：引擎在全部核上计算（在 2 核机器上留一个给 vLLM 的前端，每秒 token 数少了约五分之一）")))
    else:
        out.append(Choice("VLLM_CPU_OMP_THREADS_BIND", "auto", Said(
            f"{len(m.cores)} cores: vLLM binds one thread per physical core and keeps one for its front end",
            f"{len(m.cores)} 个核：vLLM 每个物理核绑定一个线程，并留一个核给前端")))
    out.append(Choice("LoRA", Said("studio plugin", "工作台插件") if m.lora_plugin else Said("vLLM's own", "vLLM 自带"), Said(
        "one matrix product per adapter instead of one per token (studio_vllm_cpu_lora): a long "
        "prompt's first token twice as soon with an adapter" if m.lora_plugin else
        "the studio's LoRA plugin is not installed in the serve environment (bash scripts/setup.sh "
        "installs it): long prompts with an adapter are slow",
        "每个适配器一次矩阵乘，而不是每个 token 一次（studio_vllm_cpu_lora）：带适配器的长提示首 token "
        "快一倍" if m.lora_plugin else
        "serve 环境里没有安装工作台的 LoRA 插件（bash scripts/setup.sh 会安装）：带适配器的长提示会很慢")))
    out.append(Choice("--enforce-eager", Said("on", "开"), Said(
        "with LoRA on, vLLM compiles nothing anyway; eager skips the compile step at start-up",
        "开启 LoRA 时 vLLM 本来就不做编译；eager 模式省去启动时的编译步骤")))
    return out


def env_of(choices: list[Choice]) -> dict:
    """The variables the plan sets for the server process."""
    out = {}
    for c in choices:
        if c.name == "VLLM_CPU_KVCACHE_SPACE":
            out[c.name] = c.value.split()[0]
        elif c.name == "VLLM_CPU_OMP_THREADS_BIND":
            out[c.name] = c.value
            if c.value != "auto":
                out["VLLM_CPU_NUM_OF_RESERVED_CPU"] = "0"
    return out


def dtype_of(choices: list[Choice]) -> str:
    return next(c.value for c in choices if c.name == "dtype")


LABELS = {"dtype": Said("dtype", "dtype"), "VLLM_CPU_KVCACHE_SPACE": Said("KV cache", "KV 缓存"),
          "VLLM_CPU_OMP_THREADS_BIND": Said("engine cores", "引擎用的核"),
          "LoRA": Said("LoRA kernels", "LoRA 计算"), "--enforce-eager": Said("eager mode", "eager 模式")}


def table(choices: list[Choice], zh: bool = False) -> str:
    """A list, not a table: it sits in the Deploy tab's narrow column."""
    colon, stop = ("：", "。") if zh else (": ", ". ")
    return "\n".join(f"- **{pick(LABELS.get(c.name, c.name), zh)}{colon}{pick(c.value, zh)}**{stop}"
                     f"{pick(c.why, zh)[:1].upper()}{pick(c.why, zh)[1:]}" for c in choices)


def row(c: Choice) -> dict:
    """A choice as a deployment's job spec keeps it (plain JSON, both languages)."""
    return {"name": c.name, "value": str(c.value), "value_zh": pick(c.value, True), "why": str(c.why)}


def summary(rows: list[dict], zh: bool = False) -> str:
    """One line of what a deployment was launched with, from its job spec."""
    return " · ".join(f"{pick(LABELS.get(r['name'], r['name']), zh)} {r.get('value_zh', r['value']) if zh else r['value']}"
                      for r in rows)
