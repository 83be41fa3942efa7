"""Code that calls a deployment, as the Deploy tab prints it: Python, LlamaIndex and curl, each
runnable as printed, the key read from $STUDIO_API_KEY and never written into the code."""
from __future__ import annotations

from studio.jobs import Job
from studio.serving import api_key, base_url

KEY_HINT = "# export STUDIO_API_KEY=<the key shown once when you deployed>\n"


def snippets(job: Job, url: str | None = None) -> dict[str, str]:
    """Code that calls this deployment at url (the studio's proxy; default: the server itself),
    each part runnable as printed, the key read from $STUDIO_API_KEY and never shown here."""
    url, model = url or base_url(job), job.spec["served_name"]
    keyed = bool(api_key(job))
    hint, imp = (KEY_HINT, "import os\n") if keyed else ("", "")
    py_key = 'os.environ["STUDIO_API_KEY"]' if keyed else '"EMPTY"'
    auth = '\n  -H "Authorization: Bearer $STUDIO_API_KEY" \\' if keyed else ""
    adapters = ", ".join(job.spec.get("adapters", [])) or "none yet"
    return {
        "python": f'''{hint}# Python (pip install openai)
{imp}from openai import OpenAI
client = OpenAI(base_url="{url}", api_key={py_key})
reply = client.chat.completions.create(
    model="{model}",  # or an adapter: {adapters}
    messages=[{{"role": "user", "content": "Hello!"}}],
)
print(reply.choices[0].message.content)
''',
        "llamaindex": f'''{hint}# LlamaIndex (pip install llama-index-llms-openai-like)
{imp}from llama_index.llms.openai_like import OpenAILike
llm = OpenAILike(model="{model}", api_base="{url}", api_key={py_key},
                 is_chat_model=True)
print(llm.complete("Hello!"))
''',
        "curl": f'''{hint}# curl
curl {url}/chat/completions -H "Content-Type: application/json" \\{auth}
  -d '{{"model": "{model}", "messages": [{{"role": "user", "content": "Hello!"}}]}}'
''',
    }


def snippet(job: Job, url: str | None = None) -> str:
    """The three snippets in one box, the key hint once at the top."""
    parts = [p.removeprefix(KEY_HINT) for p in snippets(job, url).values()]
    return (KEY_HINT + "\n" if api_key(job) else "") + "\n".join(parts)
