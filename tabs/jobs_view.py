"""Lines every job view shows: who started it and, while it waits, its place in the queue."""
from __future__ import annotations

from studio import serving
from tabs.context import Ctx, Problem
from tabs.i18n import msg, status


def queue_lines(ctx: Ctx, job, request) -> list[str]:
    lines = [msg(request, "m_owner", who=job.owner)] if job.owner else []
    place = ctx.store.position(job)
    if place:
        n, d = place
        why = msg(request, d.why[0], **d.why[1]) if d.why else msg(request, "q_starting")
        lines.append(msg(request, "m_queued", n=n, why=why))
    return lines


def ready_deployment(ctx: Ctx, job, request):
    """The deployment a chat or compare lane was pointed at, if it answers; otherwise an error
    that names it and says what happened to it (it may have gone since it was picked)."""
    st = serving.state(ctx.store, job, probe=False) if job is not None else None
    if st in ("failed", "lost", "cancelled", "succeeded"):
        why = f": {job.error.splitlines()[0]}" if job.error and st != "cancelled" else ""
        raise Problem(msg(request, "m_serve_gone", name=job.name, id=job.id,
                           status=status(request, st), why=why))
    if st != "ready":
        raise Problem(msg(request, "m_deploy_first"))
    return job


def error_md(request, error: str) -> str:
    """A job's error: its first line as a sentence, the rest (a log's last lines) as a block."""
    first, _, rest = (error or "").partition("\n")
    return msg(request, "m_error", e=first) + (f"\n\n```\n{rest.strip()}\n```" if rest.strip() else "")
