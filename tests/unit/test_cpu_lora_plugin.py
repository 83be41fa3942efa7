"""The studio's vLLM plugin computes what vLLM's own CPU LoRA ops compute, run by run.

It runs in the serve environment (vLLM and its torch), so the checks go there as a script."""
import subprocess

import pytest

from studio import config

CHECK = r'''
import torch, studio_vllm_cpu_lora as p
from vllm.lora.ops.torch_ops import lora_ops as ref
torch.manual_seed(0)
L, T, H, R, O = 4, 37, 64, 8, 96
starts, lens = torch.tensor([0, 10, 30]), torch.tensor([10, 20, 7])
for dt, tol in ((torch.float32, 1e-4), (torch.bfloat16, 5e-2)):
    A, B = torch.randn(L, 1, R, H, dtype=dt), torch.randn(L, 1, O, R, dtype=dt)
    A[-1] = 0; B[-1] = 0  # vLLM's ops read the last slot for rows without an adapter
    x, idx = torch.randn(T, H, dtype=dt), torch.tensor([1, -1, 0])
    mine, theirs = torch.zeros(T, R), torch.zeros(T, R)
    ref.sgmv_shrink(x, A, theirs, starts, lens, idx, 3, 20, T, 0.5)
    assert p.shrink(x, A, mine, starts, lens, idx, 0.5)
    assert torch.allclose(mine, theirs, atol=tol), "shrink"
    for add in (True, False):
        y1 = torch.randn(T, 2 * O, dtype=dt); y2 = y1.clone()
        ref.sgmv_expand_slice(theirs, B, y1, starts, lens, idx, 3, 20, T, O, O, add)
        assert p.expand(theirs, B, y2, starts, lens, idx, O, O, add)
        assert torch.allclose(y1.float(), y2.float(), atol=tol), "expand_slice"
        y1 = torch.randn(T, O, dtype=dt); y2 = y1.clone()
        ref.sgmv_expand(theirs, B, y1, starts, lens, idx, 3, 20, T, add)
        assert p.expand(theirs, B, y2, starts, lens, idx, None, None, add)
        assert torch.allclose(y1.float(), y2.float(), atol=tol), "expand"
# Every slot in use: rows without an adapter still get nothing added.
B = torch.randn(L, 1, O, R)
y = torch.zeros(T, O)
assert p.expand(torch.randn(T, R), B, y, starts, lens, torch.tensor([1, -1, 0]), None, None, True)
assert y[10:30].abs().sum() == 0 and y[:10].abs().sum() > 0
# Many runs in one step go back to vLLM's own ops.
many = torch.arange(9)
assert not p.shrink(torch.randn(9, H), A, torch.zeros(9, R), many, torch.ones(9, dtype=torch.long), many % 3, 1.0)
print("ok")
'''


def test_the_plugin_matches_vllms_own_lora_ops():
    s = config.load()
    if s.gpu:
        pytest.skip("the plugin is for vLLM's CPU backend; setup installs it only there")
    # setup.sh builds the serve environment with the plugin: its absence is a failure, not a skip.
    out = subprocess.run([s.serve_python, "-c", CHECK], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]
