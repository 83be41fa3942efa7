"""Publish a trained adapter or a merged model to the Hugging Face hub (or any hub-compatible
endpoint). The token comes from settings or the form and is never logged or stored."""
from __future__ import annotations

from pathlib import Path

from studio import config

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
        raise HubError(f"{folder} holds neither a model nor an adapter.")
    repo_id = (repo_id or "").strip()
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise HubError("Name the repository as owner/name, for example alice/qinghe-support-lora.")
    from studio.core import auth

    token = auth.hub_token(s, "publish", token)
    if not token:
        if s.hf_token:  # the owner's token is there, but not for other people's publishing
            raise HubError("Paste your own hub token with write access: this studio does not publish "
                           "with the server's token (the owner allows it with "
                           "STUDIO_HF_TOKEN_USE=download,publish).")
        raise HubError("Publishing needs a hub token with write access: set HF_TOKEN or paste one.")
    api = HfApi(endpoint=endpoint or None, token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                                 commit_message="Upload from LLM Studio", ignore_patterns=SKIP)
    except HfHubHTTPError as e:
        code = getattr(e.response, "status_code", None)
        if code in (401, 403):
            raise HubError(f"The hub refused the token for {repo_id} ({code}): it needs write "
                           "access to that namespace.") from e
        raise HubError(f"The hub answered {code} for {repo_id}: {e}") from e
    except (OSError, httpx.HTTPError) as e:  # no network, DNS, proxy (the hub client is httpx)
        raise HubError(f"Could not reach the Hugging Face hub to publish {repo_id} ({type(e).__name__}): "
                       "this machine is offline or the hub is blocked here; the files stay on disk, "
                       "publish again when it is online.") from e
    return str(info.commit_url if hasattr(info, "commit_url") else info)
