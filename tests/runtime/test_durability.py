"""A trading run's state is durable: ``run`` opens state.db with ``synchronous=FULL``."""

from __future__ import annotations

from tradekernel.runtime import Runtime


def test_a_run_opens_the_state_database_with_synchronous_full(make_kernel):
    kernel, _ = make_kernel()
    with Runtime(kernel) as runtime:
        runtime.run_cycle()
        assert runtime.store.durable
        assert runtime.store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        paper = kernel.component("broker").store
        assert paper.durable
        assert paper.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
