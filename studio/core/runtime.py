"""Where the studio runs, and whether that place can run it.

Three homes: a laptop (loopback, ./studio_data), a container from the image (STUDIO_HOME=/data,
any uid), a Hugging Face Space (uid 1000, one port, a disk that is lost at every restart unless a
storage bucket is mounted). prepare() points HOME and every cache at writable places before torch,
vLLM or the hub libraries are imported, so that jobs inherit them; check() says what the user must
know about this machine, as message keys (tabs/i18n.py words them) with their figures.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from studio import config

# Oldest NVIDIA driver for each CUDA major version. Within a major, CUDA's minor-version
# compatibility lets that driver run every minor release (CUDA 13.0 needs 580.65 or newer).
DRIVER_FOR_CUDA = {11: 450, 12: 525, 13: 580}


class StartupError(RuntimeError):
    """The studio cannot start here; key and params name the message (tabs/i18n.py)."""

    def __init__(self, key: str, **params):
        super().__init__(key)
        self.key, self.params = key, params


def check_port(host: str, port: int) -> None:
    """Before minutes of start-up: is the port free? A second studio, or another program, on it
    would otherwise end the start in a uvicorn traceback."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        # As uvicorn binds: a port a finished studio left in TIME_WAIT is free, a listening one is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as e:
            raise StartupError("e_port_busy", port=port, host=host, why=e.strerror or str(e)) from e


@dataclass
class Notice:
    key: str
    params: dict = field(default_factory=dict)


# Caches that libraries would otherwise put under HOME or beside their own (read-only) code.
_CACHES = {
    "XDG_CACHE_HOME": "",  # pip, torch hub, vLLM, outlines and others follow it
    "TRITON_CACHE_DIR": "triton",
    "TORCHINDUCTOR_CACHE_DIR": "inductor",
    "TORCH_EXTENSIONS_DIR": "torch_extensions",  # DeepSpeed's ops compile here
    "CUDA_CACHE_PATH": "nv",
    "VLLM_CACHE_ROOT": "vllm",
    "NUMBA_CACHE_DIR": "numba",
    "MPLCONFIGDIR": "matplotlib",  # LLaMA-Factory's loss plot; otherwise ~/.config/matplotlib
}


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            return True
    except OSError:
        return False


def ensure_writable(s: config.Settings) -> None:
    """The data root must take writes; say how to fix it when it cannot."""
    if not _writable(s.home):
        owner = None
        probe = s.home
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        try:
            owner = probe.stat().st_uid
        except OSError:
            pass
        raise StartupError("e_home_readonly", path=str(s.home), uid=os.getuid(),
                           owner="?" if owner is None else owner)


def prepare(s: config.Settings) -> None:
    """HOME and the caches under writable folders; a user's own settings win."""
    home = os.environ.get("HOME", "")
    if not home or not os.access(home, os.W_OK):  # asked, not probed: HOME stays untouched
        # --user with a uid that has no home in the image, or a read-only one.
        os.environ["HOME"] = str(s.path("home"))
    try:
        import pwd

        pwd.getpwuid(os.getuid())
    except KeyError:  # a --user uid the image does not know: getpass.getuser() needs a name
        os.environ.setdefault("USER", f"uid{os.getuid()}")
    cache = s.home / "cache"
    for var, sub in _CACHES.items():
        os.environ.setdefault(var, str(cache / sub) if sub else str(cache))
    config.apply_process_env(s)


# --- what this machine is ----------------------------------------------------------------------
def in_space() -> bool:
    return bool(os.environ.get("SPACE_ID"))


def in_image() -> str:
    """'cuda' or 'cpu' inside the studio's image (the Dockerfile sets it), else ''."""
    return os.environ.get("STUDIO_IMAGE", "")


def on_mount(path: Path) -> bool:
    """Whether path lies on a mounted volume (a docker -v, a Space bucket), not the container's
    own disk, which is thrown away with the container."""
    p = Path(path).resolve()
    for q in (p, *p.parents):
        if q == Path("/"):
            return False
        if os.path.ismount(q):
            return True
    return False


def torch_cuda(python: str) -> str | None:
    """The CUDA version an environment's torch was built for ('13.0'); None for a CPU build or
    when the environment is missing. Reads torch/version.py without importing torch."""
    try:
        origin = subprocess.run(
            [python, "-I", "-c", "import importlib.util as u; print(u.find_spec('torch').origin)"],
            capture_output=True, text=True, timeout=30, check=True).stdout.strip()
        text = (Path(origin).parent / "version.py").read_text()
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    m = re.search(r"^cuda\s*(?::[^=]*)?=\s*['\"]([\d.]+)['\"]", text, re.M)
    return m.group(1) if m else None


def driver_version() -> str | None:
    """The NVIDIA kernel driver's version ('580.65.06'), None without one."""
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
        m = re.search(r"Module(?: for \S+)?\s+(\d+\.\d+(?:\.\d+)?)", text)
        if m:
            return m.group(1)
    except OSError:
        pass
    rows = nvidia_smi("driver_version")
    return rows[0][0] if rows else None


def nvidia_smi(*fields: str) -> list[list[str]] | None:
    """One row of the asked fields per GPU, from nvidia-smi; None without it or without a GPU."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=15, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    rows = [[v.strip() for v in line.rsplit(",", len(fields) - 1)] for line in out.splitlines() if line.strip()]
    return rows or None


def visible_gpus() -> list[dict]:
    """Every GPU nvidia-smi lists ({index, uuid, name, mib}), narrowed to CUDA_VISIBLE_DEVICES
    when that is set (indices or UUIDs, in its order, as CUDA numbers them); [] without one."""
    rows = nvidia_smi("index", "uuid", "name", "memory.total") or []
    gpus = []
    for r in rows:
        try:
            gpus.append({"index": int(r[0]), "uuid": r[1], "name": r[2], "mib": int(float(r[3]))})
        except (ValueError, IndexError):
            continue
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return gpus
    picked = []
    for v in (x.strip() for x in visible.split(",")):
        if not v:
            continue
        match = [g for g in gpus if (str(g["index"]) == v if v.isdigit() else g["uuid"].startswith(v))]
        if not match:
            break  # CUDA stops at the first entry it cannot find
        picked += [g for g in match[:1] if g not in picked]
    return picked


def gpu_visible() -> bool:
    return Path("/dev/nvidiactl").exists() or (shutil.which("nvidia-smi") is not None
                                               and driver_version() is not None)


def driver_problem(cuda: str, driver: str | None) -> Notice | None:
    """A notice when driver is too old for a torch built for CUDA cuda; None when it is fine."""
    need = DRIVER_FOR_CUDA.get(int(cuda.split(".")[0]))
    if need is None or driver is None:
        return None
    try:
        have = int(driver.split(".")[0])
    except ValueError:
        return None
    if have >= need:
        return None
    return Notice("n_driver_old", {"cuda": cuda, "need": need, "have": driver})


def shm_bytes() -> int | None:
    try:
        st = os.statvfs("/dev/shm")
    except OSError:
        return None
    return st.f_blocks * st.f_frsize


def shm_too_small(s: config.Settings) -> int | None:
    """/dev/shm's size in bytes when it is below what multi-GPU serving needs, else None."""
    size = shm_bytes()
    return size if size is not None and size < s.shm_min_gib * 2**30 else None


# --- the checks the page shows ------------------------------------------------------------------
def check(s: config.Settings) -> list[Notice]:
    """What the user must know about this machine. May turn s.gpu off and set s.serve_blocked
    when the installed stack cannot use the GPU that is (or is not) here."""
    notices: list[Notice] = []
    if (in_space() or in_image()) and not on_mount(s.home):
        notices.append(Notice("n_space_ephemeral" if in_space() else "n_docker_ephemeral",
                              {"path": str(s.home)}))
    cuda = torch_cuda(s.serve_python)
    visible = gpu_visible()
    if cuda and not visible:
        notices.append(Notice("n_no_gpu", {"cuda": cuda}))
        s.gpu, s.serve_blocked = False, "n_no_gpu"
    elif cuda:
        old = driver_problem(cuda, driver_version())
        if old:
            notices.append(old)
            s.gpu, s.serve_blocked = False, "n_driver_old"
    elif visible and s.gpu and Path(s.serve_python).exists():
        notices.append(Notice("n_cpu_stack", {}))
        s.gpu = False
    small = shm_too_small(s)
    if small is not None:
        notices.append(Notice("n_shm_small", {"mib": small // 2**20}))
    return notices
