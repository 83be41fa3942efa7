"""Agentic RAG: for a question that needs several facts, LlamaIndex's ReAct agent plans, searches
the knowledge base once per fact, may call a calculator, and answers; every step is kept to show.

The deployed model is reached through its OpenAI-compatible endpoint (LlamaIndex OpenAILike).
Small models rarely keep to ReAct's "Thought / Action / Action Input" format on their own, so on
our vLLM servers each step is decoded under a regular expression (vLLM structured outputs): the
model still chooses what to think, which tool to call and with what, but always in a form the
agent can parse.
"""
from __future__ import annotations

import ast
import asyncio
import json
import operator
import threading
from dataclasses import dataclass, field

from studio.kbsearch import Hit

_TEXT = r'[^"\n\\]{1,120}'
_ACTIONS = (r"Action: search_knowledge\nAction Input: \{\"query\": \"" + _TEXT + r"\"\}"
            r"|Action: calculator\nAction Input: \{\"expression\": \"[0-9+\-*/(). %]{1,60}\"\}")
# A RAG agent searches before it answers: the first step must be an action.
FIRST_STEP_REGEX = r"Thought: [^\n]{1,160}\n(" + _ACTIONS + ")"
STEP_REGEX = r"Thought: [^\n]{1,160}\n(" + _ACTIONS + r"|Answer: [^\n]{1,400})"
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow, ast.Mod: operator.mod, ast.USub: operator.neg, ast.UAdd: operator.pos}


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression with + - * / % ** and parentheses, e.g. (1200-1000)/1000."""
    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 100:
                raise ValueError("exponent too large")
            return _OPS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.operand))
        raise ValueError("only numbers and + - * / % ** ( ) are allowed")

    try:
        value = ev(ast.parse(expression, mode="eval"))
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError) as e:
        return f"error: {e}"
    return f"{value:.6g}"


@dataclass
class Step:
    kind: str  # "thought", "search", "calculator", "observation", "answer", "note"
    text: str


@dataclass
class Run:
    question: str
    steps: list[Step] = field(default_factory=list)
    sources: list[Hit] = field(default_factory=list)
    answer: str = ""


def llm_for(base_url: str, model: str, api_key: str = "", context: int = 2048, max_tokens: int = 256,
            regex: str | None = None, repetition_penalty: float | None = None):
    from llama_index.llms.openai_like import OpenAILike

    body = {**({"structured_outputs": {"regex": regex}} if regex else {}),
            **({"repetition_penalty": repetition_penalty} if repetition_penalty else {})}
    extra = {"extra_body": body} if body else {}
    return OpenAILike(model=model, api_base=base_url, api_key=api_key or "EMPTY", is_chat_model=True,
                      context_window=context, max_tokens=max_tokens, temperature=0.0, timeout=120,
                      max_retries=0, additional_kwargs=extra)


def run(kb, question: str, base_url: str, model: str, api_key: str = "", kb_name: str | None = None,
        constrain: bool = True, max_steps: int = 4, context: int = 2048, out: Run | None = None) -> Run:
    """Answer a question step by step; the Run holds every step and the sources found. Pass
    `out` to watch its steps grow from another thread."""
    from llama_index.core.agent.workflow import AgentOutput, ReActAgent, ToolCall, ToolCallResult
    from llama_index.core.tools import FunctionTool

    out = out or Run(question)

    def search_knowledge(query: str) -> str:
        """Search the knowledge base for one fact; returns numbered passages to cite."""
        if constrain:  # something found: from now on the agent may answer
            llm.additional_kwargs = {"extra_body": {"structured_outputs": {"regex": STEP_REGEX}}}
        lines = []
        for h in kb.search(query, top_k=2, base=kb_name):
            seen = [i for i, x in enumerate(out.sources, start=1) if (x.file, x.chunk) == (h.file, h.chunk)]
            if not seen:
                out.sources.append(h)
            # short passages: a small model's context fills after a few steps
            lines.append(f"[{seen[0] if seen else len(out.sources)}] ({h.label}) {h.text[:300]}")
        return "\n".join(lines) or "nothing found"

    tools = [FunctionTool.from_defaults(fn=search_knowledge), FunctionTool.from_defaults(fn=calculator)]
    llm = llm_for(base_url, model, api_key, context, regex=FIRST_STEP_REGEX if constrain else None)
    agent = ReActAgent(tools=tools, llm=llm, streaming=False, system_prompt=(
        "Answer from the knowledge base. Search once for each fact you need, in a few words of the "
        'question (e.g. Action Input: {"query": "return period"}), use the calculator for arithmetic '
        '(e.g. {"expression": "(1200-1000)/1000*100"}), then answer and cite passages like [1].'))

    async def go():
        handler = agent.run(user_msg=question, max_iterations=max_steps)
        async for ev in handler.stream_events():
            if isinstance(ev, ToolCall):
                args = ev.tool_kwargs.get("query") or ev.tool_kwargs.get("expression") or json.dumps(ev.tool_kwargs)
                out.steps.append(Step("search" if ev.tool_name == "search_knowledge" else "calculator", args))
            elif isinstance(ev, ToolCallResult):
                out.steps.append(Step("observation", str(ev.tool_output.content)[:600]))
            elif isinstance(ev, AgentOutput) and ev.response.content:
                thought = ev.response.content.split("\n", 1)[0].removeprefix("Thought:").strip()
                out.steps.append(Step("thought", thought))
        return await handler

    try:
        result = asyncio.run(go())
        out.answer = str(result.response.content or "").strip()
    except Exception as e:  # out of steps, endpoint down, unparseable output: say so, keep the steps
        out.steps.append(Step("note", f"The agent stopped: {type(e).__name__}: {str(e)[:200]}"))
    if not out.answer:  # vLLM's repetition penalty keeps a small model from looping
        out.answer = _answer_from_sources(out, llm_for(base_url, model, api_key, context, max_tokens=128,
                                                       repetition_penalty=1.1 if constrain else None))
    return out


def stream(kb, question: str, base_url: str, model: str, api_key: str = "",
           kb_name: str | None = None, context: int = 2048, every: float = 0.5):
    """run() in a thread of its own: yields (the Run so far, done) every `every` seconds, so a
    caller can show each step as the agent takes it."""
    out = Run(question)
    worker = threading.Thread(target=run, args=(kb, question, base_url, model, api_key, kb_name),
                              kwargs={"context": context, "out": out}, daemon=True)
    worker.start()
    while worker.is_alive():
        yield out, False
        worker.join(every)
    yield out, True


def _answer_from_sources(out: Run, llm) -> str:
    """When the agent runs out of steps, answer once from what its searches found."""
    from llama_index.core.llms import ChatMessage

    context = "\n".join(f"[{i}] {h.text[:400]}" for i, h in enumerate(out.sources, start=1)) or "(nothing found)"
    facts = "\n".join(f"{s.kind}: {s.text}" for s in out.steps if s.kind == "observation" and "[" not in s.text[:1])
    prompt = f"Sources:\n{context}\n{facts}\n\nQuestion: {out.question}\nAnswer briefly and cite sources like [1]."
    try:
        reply = llm.chat([ChatMessage(role="user", content=prompt)])
    except Exception as e:
        return f"(no answer: {type(e).__name__}: {str(e)[:200]})"
    out.steps.append(Step("answer", "answered from the passages found so far"))
    return str(reply.message.content or "").strip()
