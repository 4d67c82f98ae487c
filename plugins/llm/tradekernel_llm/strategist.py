"""The ``llm`` strategist: prompt → provider → parse → normalize → Decision.

``decide`` never raises and never turns a bad answer into an order: every failure is
a hold with an ``error_type`` (see docs/llm.md, "Breaker contract"). Exactly one
``strategist_llm``/``decision`` event is emitted per decision.
"""

from __future__ import annotations

import math
import time
from decimal import Decimal
from typing import Any

from loguru import logger
from tradekernel.api import (
    ChatRequest,
    ChatResponse,
    ComponentContext,
    Decision,
    ProviderError,
    StrategyInput,
    digest,
)

from .answer import interpret, redact_answer
from .config import LLMStrategistConfig
from .normalize import NormalizeOptions
from .prompt import build_messages
from .recording import ReplayMiss, record, replay, request_digest
from .schema import SCHEMA_NAME, SCHEMA_VERSION, SCHEMAS, SIZING_PROMPTS
from .store import FAILED, DailySpend, LedgerUnreadable, LLMStore
from .trim import fit_prompt

CHARS_PER_TOKEN = 4
BUDGET_EXHAUSTED = "budget_exhausted"
BUDGET_UNAVAILABLE = "budget_unavailable"
PROMPT_OVER_BUDGET = "prompt_over_budget"
PROMPT_NO_CANDIDATES = "prompt_no_candidates"


class _Hold(Exception):
    def __init__(self, reason: str, error_type: str, detail: str = "") -> None:
        super().__init__(reason)
        self.decision = Decision.hold(reason, error_type=error_type, detail=detail)


class LLMStrategist:
    """A :class:`~tradekernel.components.Strategist` that asks an LLM provider."""

    def __init__(self, config: LLMStrategistConfig, ctx: ComponentContext, store: LLMStore) -> None:
        self.config = config
        self.ctx = ctx
        self.store = store
        self.provider_name = (
            "replay"
            if config.replay_dir is not None
            else (ctx.settings.components.llm_provider or "")
        )
        self._provider: Any = None
        # settlements the store refused after a paid call: written before the next call
        self._unsettled: list[tuple[int, dict[str, Any]]] = []
        self._options = NormalizeOptions(
            prompt_version=config.prompt_version,
            max_intents=config.max_intents,
            sizing=config.prompt_version in SIZING_PROMPTS,
            default_quantity=(
                None if config.default_quantity is None else Decimal(repr(config.default_quantity))
            ),
        )

    # -- public --------------------------------------------------------------------------

    @property
    def provider(self) -> Any:
        """The selected ``llm_provider`` (resolved on first use)."""
        if self._provider is None:
            self._provider = self.ctx.resolve("llm_provider")
        return self._provider

    def budget_status(self) -> DailySpend:
        """Today's spend (UTC day) against the configured daily budget."""
        return self.store.spend(
            token_limit=self.config.budget_daily_tokens, usd_limit=self.config.budget_daily_usd
        )

    def build_request(self, inputs: StrategyInput) -> ChatRequest:
        """The chat request for ``inputs`` (prompt ``prompt_version``)."""
        messages = build_messages(
            inputs,
            self.config.prompt_version,
            max_intents=self.config.max_intents,
            max_notional_hint=self.config.max_notional_hint,
        )
        return ChatRequest(
            model=self.config.model or "",
            messages=messages,
            temperature=self.config.temperature,
            max_tokens=self.config.max_tokens,
            response_schema=SCHEMAS[self.config.prompt_version],
            schema_name=SCHEMA_NAME,
            metadata={
                "prompt_version": self.config.prompt_version,
                "schema_version": SCHEMA_VERSION,
            },
        )

    def decide(self, inputs: StrategyInput) -> Decision:
        """One decision for this cycle. Never raises."""
        started = time.perf_counter()
        tele: dict[str, Any] = {
            "provider": self.provider_name,
            "model": self.config.model or None,
            "attempts": 0,
            "cache_hit": False,
            "prompt_tokens": None,
            "completion_tokens": None,
            "total_tokens": None,
        }
        severity = "info"
        try:
            decision = self._decide(inputs, tele)
        except _Hold as hold:
            decision = hold.decision
        except Exception as exc:  # never let a bug become an exception in the runtime
            logger.opt(exception=exc).error("llm strategist failed unexpectedly")
            decision = Decision.hold(
                "strategist error", error_type="internal_error", detail=f"{type(exc).__name__}"
            )
        if decision.error_type in ("replay_miss", "internal_error", BUDGET_UNAVAILABLE):
            severity = "error"
        elif decision.error_type is not None:
            severity = "warning"
        self._emit(decision, tele, started, severity)
        return decision

    def close(self) -> None:
        self.store.close()

    # -- internals -------------------------------------------------------------------------

    def _decide(self, inputs: StrategyInput, tele: dict[str, Any]) -> Decision:
        if not inputs.candidates:
            return Decision.hold("no candidates")
        inputs = self._fit(inputs)
        request = self.build_request(inputs)
        key = request_digest(request)
        tele["prompt_digest"] = self._cache_key(key)
        if self.config.log_prompts:
            tele["prompt"] = [{"role": m.role, "content": m.content} for m in request.messages]
        response = self._cached(key, tele)
        fresh = response is None
        recorded_secret = False
        reservation: int | None = None
        if response is None:
            response, recorded_secret, reservation = self._call(request, key, tele)
        # decide_answer() in two steps: nothing (spend, recording) may see the answer
        # before it is redacted, and the spend is recorded even if interpreting fails
        secret_found = redact_answer(response, self._redact) or recorded_secret
        tele["model"] = response.model or tele["model"]
        if fresh and self.config.replay_dir is not None:
            self._usage(response, tele)
        elif fresh:
            self._account(request, key, response, tele, reservation, secret_found=secret_found)
        decision = interpret(response, inputs, self._options, secret_found=secret_found)
        if decision.error_type is None and self.config.cache_ttl > 0 and not tele["cache_hit"]:
            self.store.cache_put(self._cache_key(key), response)
            self.store.cache_prune(float(self.config.cache_ttl))
        return decision

    def _fit(self, inputs: StrategyInput) -> StrategyInput:
        """``inputs`` trimmed to the prompt-size budget (``[budgets] prompt_tokens``; see
        :mod:`.trim`), with a ``budget.prompt_trimmed`` event when anything was dropped;
        a prompt that cannot fit, or fits only without any candidate, is a hold (nothing
        is asked)."""
        budgets = getattr(self.ctx.settings, "budgets", None)
        limit = getattr(budgets, "prompt_tokens", None)
        if limit is None:
            return inputs

        def build(trimmed: StrategyInput) -> list[Any]:
            return build_messages(
                trimmed,
                self.config.prompt_version,
                max_intents=self.config.max_intents,
                max_notional_hint=self.config.max_notional_hint,
            )

        fit = fit_prompt(inputs, build, limit)
        empty = not fit.inputs.candidates  # every candidate dropped: nothing to trade
        if fit.dropped or not fit.fits:
            self.ctx.emit(
                "budget",
                "prompt_trimmed",
                severity="info" if fit.fits and not empty else "warning",
                strategist="llm",
                prompt_version=self.config.prompt_version,
                tokens_before=fit.tokens_before,
                tokens_after=fit.tokens_after,
                limit=limit,
                dropped=fit.dropped,
                fits=fit.fits,
            )
        if not fit.fits:
            raise _Hold(
                "prompt over its size budget",
                PROMPT_OVER_BUDGET,
                f"about {fit.tokens_after} tokens after trimming; [budgets] prompt_tokens "
                f"is {limit}",
            )
        if empty:  # the answer could only be a hold: do not pay for it
            raise _Hold(
                "no candidate left after trimming the prompt",
                PROMPT_NO_CANDIDATES,
                f"[budgets] prompt_tokens is {limit}",
            )
        return fit.inputs

    def _redact(self, text: str) -> str:
        """The kernel's secret redactor (every secret handed out by ``ctx.secret``)."""
        redact = getattr(self.ctx.settings, "redact", None)
        return redact(text) if redact is not None else text

    def _cache_key(self, request_key: str) -> str:
        """The request digest plus the provider: with ``model`` left to the provider's
        default, two providers may get the same request and answer differently."""
        return digest([self.provider_name, request_key])

    def _cached(self, key: str, tele: dict[str, Any]) -> ChatResponse | None:
        if self.config.cache_ttl <= 0:
            return None
        response = self.store.cache_get(self._cache_key(key), float(self.config.cache_ttl))
        if response is not None:
            tele["cache_hit"] = True
        return response

    def _call(
        self, request: ChatRequest, key: str, tele: dict[str, Any]
    ) -> tuple[ChatResponse, bool, int | None]:
        """The answer, whether it is a recording of an answer that held a secret, and
        the ledger row reserved for the call (``None`` in replay mode)."""
        if self.config.replay_dir is not None:
            try:
                recorded = replay(self.config.replay_dir, key)
            except ReplayMiss as exc:
                raise _Hold(
                    "no recorded answer for this prompt (replay mode)", "replay_miss", str(exc)
                ) from None
            return recorded.response, recorded.secret_in_answer, None
        reservation = self._reserve(request)
        try:
            response = self._ask(request, tele)
        except BaseException:
            # no usage to settle with: a failed call counts as nothing (as failed calls
            # always have); if even that cannot be written, it keeps its estimate
            self._settle(reservation, request.model, 0, 0, None, FAILED, keep=False)
            raise
        return response, False, reservation

    def _ask(self, request: ChatRequest, tele: dict[str, Any]) -> ChatResponse:
        try:
            response = self.provider.chat(request)
        except ProviderError as exc:
            tele["attempts"] = len(exc.attempts)
            tele["model"] = tele["model"] or getattr(exc, "model", None) or None
            code = str(exc.error_type)
            code = code if code.startswith("provider_") else f"provider_{code}"
            raise _Hold(f"provider failed: {exc.error_type}", code, str(exc)[:300]) from None
        except Exception as exc:  # a provider plugin that breaks its contract
            logger.opt(exception=exc).warning("llm provider raised {}", type(exc).__name__)
            raise _Hold(
                "provider failed unexpectedly", "provider_exception", type(exc).__name__
            ) from None
        tele["attempts"] = len(response.attempts)
        return response

    def _account(
        self,
        request: ChatRequest,
        key: str,
        response: ChatResponse,
        tele: dict[str, Any],
        reservation: int | None,
        *,
        secret_found: bool,
    ) -> None:
        """Settle the call's reservation with the answer's usage and spend (and record
        the answer itself, with ``record_dir``); ``response`` is already redacted,
        ``secret_found`` says whether that redaction found a secret."""
        prompt_tokens, completion_tokens = self._usage(response, tele, request)
        cost, source = self._cost(response, prompt_tokens, completion_tokens)
        self._settle(
            reservation,
            response.model or request.model,
            prompt_tokens,
            completion_tokens,
            cost,
            source,
            keep=True,
        )
        if self.config.record_dir is not None:
            record(self.config.record_dir, key, request, response, secret_in_answer=secret_found)

    def _usage(
        self, response: ChatResponse, tele: dict[str, Any], request: ChatRequest | None = None
    ) -> tuple[int, int]:
        u = response.usage
        # a provider's count that is not a finite number >= 0 is unknown (the estimate
        # is used): a NaN or negative usage must never reach the ledger
        prompt, completion = _count(u.prompt_tokens), _count(u.completion_tokens)
        tele["prompt_tokens"] = prompt
        tele["completion_tokens"] = completion
        tele["total_tokens"] = _count(u.total_tokens)
        if _amount(u.cost_usd) is not None:
            tele["reported_cost_usd"] = u.cost_usd
        if prompt is None:
            prompt = estimate_prompt_tokens(request) if request is not None else 0
        if completion is None:
            completion = len(response.content or "") // CHARS_PER_TOKEN
        if self.config.priced:
            tele["estimated_cost_usd"] = self._price(prompt, completion)
        return prompt, completion

    def _price(self, prompt_tokens: int, completion_tokens: int) -> float:
        p = self.config.price_prompt_per_mtok or 0.0
        c = self.config.price_completion_per_mtok or 0.0
        return round((prompt_tokens * p + completion_tokens * c) / 1_000_000, 8)

    def _cost(
        self, response: ChatResponse, prompt: int, completion: int
    ) -> tuple[float | None, str | None]:
        reported = _amount(response.usage.cost_usd)
        if reported is not None:
            return reported, "provider"
        if self.config.priced:
            return self._price(prompt, completion), "estimate"
        return None, None

    def _reserve(self, request: ChatRequest) -> int:
        """Check today's spend against the budget and reserve the call's estimate
        (``len(prompt) / 4 + max_tokens`` tokens, priced at the configured rates) in one
        write transaction; the id of the reservation. A hold when the budget would be
        passed, or when the ledger cannot be read or written (no call is made without
        its reservation: a spend that cannot be counted must not be paid)."""
        tokens_limit, usd_limit = self.config.budget_daily_tokens, self.config.budget_daily_usd
        prompt, completion = estimate_prompt_tokens(request), request.max_tokens or 0
        estimate = prompt + completion
        cost = self._price(prompt, completion) if self.config.priced else None

        def refuse(spent: DailySpend) -> tuple[str, float, float, float] | None:
            if tokens_limit is not None and spent.tokens + estimate > tokens_limit:
                return "tokens", spent.tokens, tokens_limit, estimate
            if usd_limit is not None:
                usd = cost or 0.0
                if spent.usd + usd > usd_limit or spent.usd >= usd_limit:
                    return "usd", round(spent.usd, 6), usd_limit, usd
            return None

        try:
            self._flush_unsettled()
            _, refusal, reservation = self.store.reserve(
                provider=self.provider_name,
                model=request.model,
                prompt_tokens=prompt,
                completion_tokens=completion,
                cost_usd=cost,
                refuse=refuse,
                token_limit=tokens_limit,
                usd_limit=usd_limit,
            )
        except LedgerUnreadable as exc:
            raise _Hold("LLM spend ledger unreadable", BUDGET_UNAVAILABLE, str(exc)) from None
        except Exception as exc:  # the store down, locked, read-only, refusing...
            logger.warning("llm spend ledger unavailable: {}: {}", type(exc).__name__, exc)
            raise _Hold(
                "LLM spend ledger unavailable", BUDGET_UNAVAILABLE, type(exc).__name__
            ) from None
        if refusal:
            self._exhausted(*refusal)
        assert reservation is not None
        return reservation

    def _settle(
        self,
        reservation: int,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        cost: float | None,
        source: str | None,
        *,
        keep: bool,
    ) -> None:
        """Write a call's real usage over its reservation. When the store refuses, the
        estimate stays counted; with ``keep``, the usage is also kept here and written
        before the next call (which holds until it is)."""
        values = {
            "model": model,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "cost_usd": cost,
            "cost_source": source,
        }
        try:
            self.store.settle(reservation, **values)
        except Exception as exc:
            logger.warning(
                "llm spend of reservation {} not written ({}): its estimate stays counted",
                reservation,
                type(exc).__name__,
            )
            if keep:
                self._unsettled.append((reservation, values))

    def _flush_unsettled(self) -> None:
        while self._unsettled:
            reservation, values = self._unsettled[0]
            self.store.settle(reservation, **values)
            self._unsettled.pop(0)

    def _exhausted(self, scope: str, used: float, limit: float, estimate: float) -> None:
        self.ctx.emit(
            "budget",
            "exhausted",
            severity="warning",
            scope=scope,
            used=used,
            limit=limit,
            estimate=estimate,
            strategist="llm",
        )
        raise _Hold(
            f"daily {scope} budget exhausted",
            BUDGET_EXHAUSTED,
            f"used {used} of {limit}; next call needs about {estimate}",
        )

    def _emit(
        self, decision: Decision, tele: dict[str, Any], started: float, severity: str
    ) -> None:
        fields = dict(tele)
        fields.update(
            ok=decision.error_type is None,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            error_type=decision.error_type,
            prompt_version=self.config.prompt_version,
            schema_version=SCHEMA_VERSION,
            fallback_reason=decision.hold_reason if decision.error_type else None,
            intents=len(decision.intents),
        )
        if decision.detail:
            fields["detail"] = decision.detail
        try:
            self.ctx.emit("strategist_llm", "decision", severity=severity, **fields)
        except Exception as exc:  # telemetry must not stop a decision
            logger.warning("strategist_llm event failed: {}", exc)


def _count(value: Any) -> int | None:
    """A provider-reported token count, ``None`` unless a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if 0 <= value < math.inf else None


def _amount(value: Any) -> float | None:
    """A provider-reported cost, ``None`` unless a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value < math.inf else None


def estimate_prompt_tokens(request: ChatRequest | None) -> int:
    """About one token per four characters of the messages."""
    if request is None:
        return 0
    return sum(len(m.content) for m in request.messages) // CHARS_PER_TOKEN + 1
