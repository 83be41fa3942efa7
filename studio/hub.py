"""Publish a trained adapter or a merged model to the Hugging Face hub (or any hub-compatible
endpoint). The token comes from settings or the form and is never logged or stored."""
from __future__ import annotations

from pathlib import Path

from studio import config
from studio.words import Said

# What a run folder holds besides the model: the hub needs none of it.
SKIP = ["checkpoint-*", "checkpoint-*/**", "trainer_log.jsonl", "running_log.txt", "trainer_state.json",
        "training_args.bin", "all_results.json", "train_results.json", "*.tmp"]


class HubError(RuntimeError):
    """A problem the user can act on; the message says what and how."""


def push(s: config.Settings, folder: Path, repo_id: str, private: bool = True,
         token: str | None = None, endpoint: str | None = None) -> str:
    """Create the repo if needed and upload the folder in one commit; returns the commit URL."""
    import httpx
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    folder = Path(folder)
    if not (folder / "config.json").exists() and not (folder / "adapter_config.json").exists():
        raise HubError(Said(f"{folder} holds neither a model nor an adapter.", f"{folder} 里既没有模型也没有适配器。"))
    repo_id = (repo_id or "").strip()
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise HubError(Said("Name the repository as owner/name, for example alice/qinghe-support-lora.",
                            "请把仓库写成 所有者/名称，例如 alice/qinghe-support-lora。"))
    from studio.core import auth

    token = auth.hub_token(s, "publish", token)
    if not token:
        if s.hf_token:  # the owner's token is there, but not for other people's publishing
            raise HubError(Said("Paste your own hub token with write access: this studio does not publish "
                                "with the server's token (the owner allows it with "
                                "STUDIO_HF_TOKEN_USE=download,publish).",
                                "请粘贴你自己的、有写权限的 Hub token：工作台不会用服务器的 token 替你发布"
                                "（管理者可以设置 STUDIO_HF_TOKEN_USE=download,publish 来允许）。"))
        raise HubError(Said("Publishing needs a hub token with write access: set HF_TOKEN or paste one.",
                            "发布需要有写权限的 Hub token：请设置 HF_TOKEN，或在这里粘贴一个。"))
    api = HfApi(endpoint=endpoint or None, token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                                 commit_message="Upload from LLM Studio", ignore_patterns=SKIP)
    except HfHubHTTPError as e:
        code = getattr(e.response, "status_code", None)
        if code in (401, 403):
            raise HubError(Said(f"The hub refused the token for {repo_id} ({code}): it needs write "
                                "access to that namespace.",
                                f"Hub 拒绝了用于 {repo_id} 的 token（{code}）：它需要对该命名空间的写权限。")) from e
        raise HubError(Said(f"The hub answered {code} for {repo_id}: {e}",
                            f"Hub 对 {repo_id} 返回了 {code}：{e}")) from e
    except (OSError, httpx.HTTPError) as e:  # no network, DNS, proxy (the hub client is httpx)
        raise HubError(Said(f"Could not reach the Hugging Face hub to publish {repo_id} ({type(e).__name__}): "
                            "this machine is offline or the hub is blocked here; the files stay on disk, "
                            "publish again when it is online.",
                            f"无法连接 Hugging Face Hub 发布 {repo_id}（{type(e).__name__}）：本机没有联网，"
                            "或这里屏蔽了 Hub；文件仍保存在磁盘上，联网后再发布一次即可。")) from e
    return str(info.commit_url if hasattr(info, "commit_url") else info)
