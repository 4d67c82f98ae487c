"""``tradekernel skills smoke``: hydrate once and show every skill's result."""

from __future__ import annotations

import click

from ..display import inert
from ..errors import GateFailed
from .context import AppContext, echo_json, json_option, pass_app


@click.group()
def skills() -> None:
    """Inspect and test skills."""


@skills.command()
@json_option
@pass_app
def smoke(app: AppContext, as_json: bool) -> None:
    """Hydrate once; exit 4 when a required skill fell back."""
    from ..runtime import Runtime

    kernel = app.kernel()
    kernel.check()  # what `run` would refuse stops here too, before the store is opened
    with Runtime(kernel, mode="shadow") as runtime:
        state = runtime.hydrate_once()
    rows = [
        {
            "skill": name,
            "ok": r.ok,
            "latency_ms": round(r.latency_ms, 3),
            "source": r.source,
            "version": r.version,
            "fallback_reason": r.fallback_reason,
            "error": r.error,
        }
        for name, r in state.skill_results.items()
    ]
    required = app.settings().components.required_skills
    failed = [r["skill"] for r in rows if r["skill"] in required and not r["ok"]]
    if as_json:
        echo_json({"as_of": state.as_of, "skills": rows, "required_failed": failed})
    else:
        for r in rows:
            why = f"{r['fallback_reason']}: {r['error']}"
            status = "ok" if r["ok"] else f"FALLBACK ({inert(why)})"
            click.echo(f"{r['skill']:<20} v{r['version']:<3} {r['latency_ms']:>9.3f} ms  {status}")
    if failed:
        raise GateFailed(f"required skills fell back: {', '.join(failed)}")
