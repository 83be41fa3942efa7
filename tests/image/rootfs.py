"""The studio's image built and run without a Docker engine, as this machine allows.

No registry image can be pulled here, but Debian's packages can: debootstrap makes the base and
podman builds the real Dockerfile on it. `podman run` is refused here (setrlimit), so a built image
runs from its mounted filesystem under chroot, as the user the image names, with the image's own
environment, working directory and command: what `docker run` would do, minus the namespaces.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from studio import config

BASE = "localhost/studio-base:bookworm"
# The requirement files of each environment of each image target (test_resolution.py).
TARGETS = {
    "cuda": {"torch": ["requirements-torch.txt", "requirements-torch-gpu.txt"],
             "app": ["requirements.txt", "requirements-ray.txt"],
             "train": ["requirements-train.txt", "requirements-train-gpu.txt", "requirements-ray-train.txt"],
             "serve": ["requirements-serve-gpu.txt"]},
    "cpu": {"app": ["requirements.txt", "requirements-ray.txt"],
            "train": ["requirements-train.txt"],
            "serve": ["requirements-serve-cpu.txt"]},
}


BUILDS: list[subprocess.Popen] = []
NICE: list[str] = []  # ["nice", "-n", "15"] while the build runs beside other tests (early.py)


def sh(*cmd, check=True, timeout=600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], check=check, timeout=timeout, text=True,
                          capture_output=True, **kw)


def missing_tools() -> list[str]:
    return [t for t in ("podman", "debootstrap", "chroot", "mount") if shutil.which(t) is None]


def base_image(workdir: Path) -> str:
    """A Debian bookworm base with Python 3.11 and venv, as python:3.11-slim has (made once)."""
    if sh("podman", "image", "exists", BASE, check=False).returncode == 0:
        return BASE
    root = workdir / "bookworm"
    sh(*NICE, "debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
       "bookworm", root, "http://deb.debian.org/debian", timeout=1200)
    tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(["podman", "import", "-", BASE], stdin=tar.stdout, check=True, timeout=600,
                   capture_output=True)
    tar.wait()
    shutil.rmtree(root, ignore_errors=True)
    return BASE


def local_wheels() -> str | None:
    """This machine's own wheel folder (it holds torch's CPU build, which PyTorch's index would
    give a build elsewhere and which cannot be reached from here)."""
    folder = os.environ.get("PIP_FIND_LINKS", "")
    return folder if folder and Path(folder).is_dir() else None


def build(tag: str, target: str, log: Path) -> None:
    args = [*NICE, "podman", "build", "--isolation=chroot", "--network=host", "-f", "Dockerfile",
            "--build-arg", f"BASE={BASE}", "--build-arg", f"TARGET={target}", "-t", tag]
    wheels = local_wheels() if target == "cpu" else None  # it holds the CPU build of torch
    if wheels:
        args += ["-v", f"{wheels}:/wheels:ro", "--build-arg", "WHEELS=/wheels",
                 "--build-arg", "TORCH_INDEX=none"]
    ca = os.environ.get("PIP_CERT", "")
    if ca and Path(ca).is_file():  # this network's TLS proxy signs with its own CA
        args += ["-v", f"{ca}:/run/host-ca.crt:ro", "--build-arg", "CA_BUNDLE=/run/host-ca.crt"]
    # The name off the last image first (its layers stay, for the cache): a build that stops early,
    # even with status 0 (podman's on SIGTERM), leaves no old image under the name to be tested.
    sh("podman", "untag", tag, check=False)
    with open(log, "w") as out:
        proc = subprocess.Popen(args + ["."], cwd=config.REPO, stdout=out, stderr=subprocess.STDOUT)
        BUILDS.append(proc)  # what early.stop() ends if the session ends first
        try:
            rc = proc.wait(3600)
        finally:
            if proc.poll() is None:
                proc.kill()
            BUILDS.remove(proc)
    assert rc == 0, f"podman build failed: see {log}\n" + log.read_text()[-3000:]


def empty_venv(v: Path) -> Path:
    """An environment whose only package is the torch .venvs/torch holds, as setup gives every
    environment (no pip of its own: the caller's pip resolves for it)."""
    import sys

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(v)], check=True)
    torch_site = next((config.REPO / ".venvs" / "torch" / "lib").glob("python3*/site-packages"))
    site = next((v / "lib").glob("python3*/site-packages"))
    (site / "_studio_torch.pth").write_text(f"{torch_site}\n")
    return v


def pip_resolve(venv: Path, files: list[str], ignore_installed: bool, out: Path,
                constraints: Path | None = None) -> dict[str, str]:
    """name -> version an isolated pip dry run would install into venv for these requirement
    files, from the public registry alone (this machine's wheel folder and pip settings unused)."""
    import sys

    cmd = [*NICE, sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "--isolated",
           "install", "--dry-run", "--quiet", "--report", str(out)]
    if constraints:
        cmd += ["-c", str(constraints)]
    if os.environ.get("PIP_CERT"):
        cmd += ["--cert", os.environ["PIP_CERT"]]
    if ignore_installed:
        cmd.append("--ignore-installed")
    for f in files:
        cmd += ["-r", str(config.REPO / f)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, cwd=config.REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    return {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"]
            for i in report["install"]}


def image_config(tag: str) -> dict:
    [info] = json.loads(sh("podman", "image", "inspect", tag).stdout)
    cfg = info["Config"]
    return {"env": dict(e.split("=", 1) for e in cfg.get("Env", [])), "cmd": cfg["Cmd"],
            "user": cfg.get("User", ""), "workdir": cfg.get("WorkingDir", "/"),
            "size": info["Size"]}


def leftovers(tag: str) -> None:
    """Remove containers of tag that an interrupted run left mounted, with their processes."""
    ids = sh("podman", "ps", "-a", "-q", "--filter", f"ancestor={tag}", check=False).stdout.split()
    for cid in ids:
        Container.attach(cid).close()


class Container:
    """A container's filesystem, mounted, with /proc, /dev and /sys from this machine and an
    outside folder bound where a volume would be (None: no volume, the container's own disk)."""

    def __init__(self, tag: str, volume: Path | None, at: str = "/data"):
        self.tag, self.volume, self.at = tag, volume, at
        self.cid = sh("podman", "create", tag).stdout.strip()
        self.root = Path(sh("podman", "mount", self.cid).stdout.strip())
        self.mounts: list[Path] = []
        self.procs: list[subprocess.Popen] = []
        for src, dst, opts in (("proc", "proc", ["-t", "proc"]), ("/dev", "dev", ["--rbind"]),
                               ("/sys", "sys", ["--rbind"])):
            self._mount(src, self.root / dst, opts)
        if volume is not None:
            self._mount(volume, self.root / at.lstrip("/"), ["--bind"])

    @classmethod
    def attach(cls, cid: str) -> "Container":
        """An existing container, with whatever of its mounts are still in place."""
        box = cls.__new__(cls)
        box.cid, box.procs = cid, []
        box.root = Path(sh("podman", "mount", cid).stdout.strip())
        box.mounts = [box.root / d for d in ("proc", "dev", "sys", "data")]
        return box

    def _mount(self, src, dst: Path, opts: list[str]) -> None:
        dst.mkdir(parents=True, exist_ok=True)
        sh("mount", *opts, src, dst)
        self.mounts.append(dst)

    def _enter(self, cfg: dict, uid: int, gid: int):
        """What runs in the child before the image's command: its root, its folder, its user."""
        root, workdir = str(self.root), cfg["workdir"]

        def enter():
            os.chroot(root)
            os.chdir(workdir)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

        return enter

    def start(self, cfg: dict, uid: int, gid: int, env: dict, log: Path) -> subprocess.Popen:
        """The image's command, as uid:gid, with the image's environment plus env."""
        out = open(log, "ab")
        proc = subprocess.Popen(cfg["cmd"], env={**cfg["env"], **env}, preexec_fn=self._enter(cfg, uid, gid),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def run(self, cfg: dict, uid: int, gid: int, args: list[str], stdin: str = "") -> subprocess.CompletedProcess:
        """A command inside the image (as `docker exec` would run it), with the image's environment."""
        return subprocess.run(args, env=cfg["env"], preexec_fn=self._enter(cfg, uid, gid), input=stdin, text=True,
                              capture_output=True, timeout=120)

    def changed_outside(self, *allowed: str) -> list[str]:
        """Paths the container wrote in its own layer (volumes excluded), minus allowed prefixes."""
        out = sh("podman", "diff", "--format", "json", self.cid).stdout
        diff = json.loads(out or "{}")
        paths = [p for key in ("changed", "added", "deleted") for p in (diff.get(key) or [])]
        return sorted(p for p in paths if not any(p == a or p.startswith(a + "/") for a in allowed))

    def inside(self) -> list[int]:
        """Every process running in this container (jobs start sessions of their own)."""
        pids = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.readlink(d / "root") == str(self.root):
                        pids.append(int(d.name))
        return pids

    def close(self) -> None:
        for _ in range(3):
            for pid in self.inside():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
            time.sleep(1)
        for proc in self.procs:
            with contextlib.suppress(Exception):
                proc.wait(30)
        for dst in reversed(self.mounts):
            if not os.path.ismount(dst):
                continue
            for _ in range(5):
                if sh("umount", "-R", dst, check=False).returncode == 0:
                    break
                time.sleep(1)
            else:
                sh("umount", "-R", "-l", dst, check=False)
        sh("podman", "umount", self.cid, check=False)
        sh("podman", "rm", "-f", self.cid, check=False)


def main(argv: list[str]) -> int:
    """python -m tests.image.rootfs cuda|cpu: build that target here and print its sizes (how
    the README's figures were measured; the CUDA target builds without a GPU)."""
    import sys
    import tempfile

    if len(argv) != 1 or argv[0] not in ("cuda", "cpu"):
        print(main.__doc__, file=sys.stderr)
        return 2
    target = argv[0]
    with tempfile.TemporaryDirectory(dir="/var/tmp") as work:
        base_image(Path(work))
        log = Path(work) / "build.log"
        tag = f"localhost/studio:{target}-test"
        t0 = time.time()
        build(tag, target, log)
        lines = [ln for ln in log.read_text().splitlines() if "\t/opt/" in ln or ln.endswith("\ttotal")]
    print(f"{target} image built in {time.time() - t0:.0f} s; installed: "
          f"{image_config(tag)['size'] / 1e9:.2f} GB")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
