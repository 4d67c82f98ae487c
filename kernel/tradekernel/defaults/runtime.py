"""The default runtime: the kernel's own commander walks the cycle graph."""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl


class NativeRuntime:
    """Walks the graph node by node in this thread; tenacity owns the retries."""

    def run(self, cycle: Any) -> None:
        route = cycle.enter()
        while route.next != "end":
            node = cycle.graph.node(route.next)
            if not self._run_node(cycle, node):
                return
            route = cycle.after(node)
        cycle.end(route)

    def _run_node(self, cycle: Any, node: Any) -> bool:
        """Run one node; retry it per its policy; on a final failure cancel the cycle."""
        try:
            cycle.call(node)  # the common case pays nothing for the retry machinery
            return True
        except Exception as exc:
            failure: Exception = exc
        attempts = cycle.attempts(node)
        if attempts > 1 and cycle.retryable(node, failure):
            try:
                self._retry(cycle, node, failure, attempts)
                return True
            except Exception as exc:
                failure = exc
        cycle.fail(node, failure)
        return False

    def _retry(self, cycle: Any, node: Any, first: Exception, attempts: int) -> None:
        """Tenacity's attempt 1 replays the failure already seen."""
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

        failed = [first]
        for attempt in Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=cycle.policy.node_backoff, max=30),
            retry=retry_if_exception(lambda exc: cycle.retryable(node, exc)),
            before_sleep=lambda rs: cycle.retrying(node, rs.attempt_number, rs.outcome.exception()),
            reraise=True,
        ):
            with attempt:
                if failed:
                    raise failed.pop()
                cycle.call(node)


@hookimpl
def register_runtimes(register):
    register(
        "native",
        lambda config, ctx: NativeRuntime(),
        description="The kernel's commander walks the cycle graph (the default).",
    )
