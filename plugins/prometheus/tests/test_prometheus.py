"""The prometheus sink: metrics built from events, served over HTTP and as a textfile."""

from __future__ import annotations

import socket

import httpx

from .conftest import free_port, parse_samples


def _emit_day(kernel) -> None:
    for ok, latency, cost in ((True, 1500, "0.002"), (False, 250, None)):
        kernel.emit(
            "strategist_llm",
            "decision",
            provider="openrouter",
            model="m1",
            ok=ok,
            latency_ms=latency,
            prompt_tokens=100,
            completion_tokens=20,
            estimated_cost_usd=cost,
        )
    kernel.emit("risk", "verdict", intent_id="i1", guard="max_position", allow=False, code="limit")
    kernel.emit("risk", "verdict", intent_id="i2", guard="allowlist", allow=True)
    kernel.emit("approval", "pending", intent_id="i2")
    kernel.emit("approval", "recorded", intent_id="i2", approvals=1, required=2)
    kernel.emit("approval", "approved", intent_id="i2")
    kernel.emit("executor", "submitted", intent_id="i2")
    kernel.emit("monitor", "order_status", client_order_id="c2", status="filled")
    kernel.emit("resilience", "breaker_opened", breaker="market_data", failures=3)
    kernel.emit("notify", "delivered", notifier="slack")
    kernel.emit("notify", "failed", notifier="slack")
    kernel.emit("report", "cycle", cycles=1, equity="100000.50")
    kernel.emit("hydrate", "skill", skill="market.quote", ok=True, latency_ms=40)


def _check(samples: dict) -> None:
    def value(name, **labels):
        return samples[(name, tuple(sorted(labels.items())))]

    llm = "tradekernel_strategist_llm"
    assert value(f"{llm}_requests_total", provider="openrouter", model="m1", ok="true") == 1
    assert value(f"{llm}_requests_total", provider="openrouter", model="m1", ok="false") == 1
    assert value(f"{llm}_latency_seconds_count", provider="openrouter", model="m1") == 2
    assert value(f"{llm}_latency_seconds_sum", provider="openrouter", model="m1") == 1.75
    assert value(f"{llm}_tokens_total", type="prompt") == 200
    assert value(f"{llm}_tokens_total", type="completion") == 40
    assert value(f"{llm}_cost_usd_total") == 0.002
    assert value("tradekernel_guard_denials_total", guard="max_position", code="limit") == 1
    assert not any(
        k[0] == "tradekernel_guard_denials_total" and ("guard", "allowlist") in k[1]
        for k in samples
    )
    assert value("tradekernel_intents_total", state="pending") == 1
    assert not any(  # one approval of a quorum is not an intent state
        k[0] == "tradekernel_intents_total" and ("state", "recorded") in k[1] for k in samples
    )
    assert value("tradekernel_intents_total", state="submitted") == 1
    assert value("tradekernel_orders_total", status="filled") == 1
    assert value("tradekernel_breaker_state", breaker="market_data") == 2
    assert value("tradekernel_notifications_total", notifier="slack", status="delivered") == 1
    assert value("tradekernel_notifications_total", notifier="slack", status="failed") == 1
    assert value("tradekernel_cycles_total") == 1
    assert value("tradekernel_account_equity") == 100000.5
    assert value("tradekernel_skill_latency_seconds_count", skill="market.quote") == 1
    assert value("tradekernel_events_total", stage="notify", kind="failed", severity="info") == 1


def test_metrics_are_served_over_http(make_kernel):
    port = free_port()
    kernel = make_kernel(["prometheus"], f"[metrics_sink.prometheus]\nport = {port}\n")
    _emit_day(kernel)
    sink = kernel.component("metrics_sink", "prometheus")
    assert sink.port == port
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200
    _check(parse_samples(response.text))
    kernel.close()
    try:
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
    except httpx.TransportError:
        pass
    else:
        raise AssertionError("the server still answers after close()")


def test_textfile_is_written_for_node_exporter(make_kernel, tmp_path):
    kernel = make_kernel(
        ["prometheus"],
        '[metrics_sink.prometheus]\ntextfile = "metrics/tradekernel.prom"\n'
        'textfile_interval = "1h"\n',
    )
    path = tmp_path / "state" / "metrics" / "tradekernel.prom"
    kernel.emit("control", "paused", actor="op")  # a one-off command writes nothing
    assert not path.exists()
    _emit_day(kernel)  # its report.cycle: this process runs cycles and owns the file
    assert path.is_file()
    kernel.close()  # the final write happens on close
    _check(parse_samples(path.read_text()))
    assert not list(path.parent.glob("*.tmp*"))  # the atomic write left no temporary file


def test_each_sink_has_its_own_registry(make_kernel):
    first = make_kernel(["prometheus"])
    second = make_kernel(["prometheus"])
    first.emit("notify", "delivered", notifier="log")
    a = first.component("metrics_sink", "prometheus")
    b = second.component("metrics_sink", "prometheus")
    assert a.registry is not b.registry
    assert (
        'tradekernel_notifications_total{notifier="log",status="delivered"} 1.0' in a.exposition()
    )
    assert "notifier=" not in b.exposition()


def test_a_bad_field_does_not_raise(make_kernel):
    kernel = make_kernel(["prometheus"])
    kernel.emit("strategist_llm", "decision", provider="p", model="m", ok=True, latency_ms="soon")
    kernel.emit("report", "cycle", equity={"odd": 1})
    text = kernel.component("metrics_sink", "prometheus").exposition()
    assert 'tradekernel_strategist_llm_requests_total{model="m",ok="true",provider="p"} 1.0' in text


def test_a_busy_port_is_logged_not_fatal(make_kernel):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        kernel = make_kernel(["prometheus"], f"[metrics_sink.prometheus]\nport = {port}\n")
        kernel.emit("notify", "delivered", notifier="log")
        sink = kernel.component("metrics_sink", "prometheus")
        assert sink.port is None
        assert "tradekernel_notifications_total" in sink.exposition()


def test_slo_status_events_set_the_budget_and_burn_rate_gauges(make_kernel):
    kernel = make_kernel(["prometheus"])
    rates = {"5m": 20.0, "30m": 8.5, "1h": 15.0, "6h": 2.25, "99y": 7.0}
    kernel.emit("slo", "status", objective="cycles", budget_remaining=0.75, burn_rates=rates)
    kernel.emit("slo", "status", objective="odd", budget_remaining="nan", burn_rates="fast")
    kernel.emit("slo", "burn_rate", objective="cycles", budget_remaining=0.1)  # status only
    samples = parse_samples(kernel.component("metrics_sink", "prometheus").exposition())
    assert samples[("tradekernel_slo_budget_remaining", (("objective", "cycles"),))] == 0.75
    burn = {
        dict(labels)["window"]: v
        for (name, labels), v in samples.items()
        if name == "tradekernel_slo_burn_rate" and dict(labels)["objective"] == "cycles"
    }
    assert burn == {"5m": 20.0, "30m": 8.5, "1h": 15.0, "6h": 2.25}
    assert ("tradekernel_slo_budget_remaining", (("objective", "odd"),)) not in samples
    kernel.close()
