"""The kernel stays small: the operator features live in first-party plugins, and the
kernel's Python does not creep back up (``scripts/bench`` prints the size beside the
target; ``docs/architecture.md`` says what stays in the kernel and why)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

KERNEL = Path(__file__).resolve().parents[2] / "kernel" / "tradekernel"
CEILING = 25_010
"""Lines of Python the kernel may hold. Raise it only with a reason in the commit.
(16,450: the broker contract kit, broker_contract.py and testing_network.py, about 800 lines
of test kit that plugins' tests import from ``tradekernel.testing``; 17,400: several
brokers, routing and failover (runtime/routing.py, about 600 lines, part of execution), and
the stale-quote rule and market sessions (about 60); 17,550: the kit's stricter checks and
network guard, five broker event kinds in the catalogue; 17,800: the several-brokers safety
rules: position-aware routing, start checks deferred for a broker that does not answer,
refusing stranded intents and shared accounts, one reconcile for every broker, health over a
window (about 250), and the monitor's per-broker read budget; 18,600: several strategies in
one agent, about 800 lines: the strategize node for each strategist with its breaker and
degrade state, conflict resolution and netting shares (portfolio/), the shares table;
19,600: several strategies' budgets and allocation, the allocator kind, the per-strategy
sub-ledger, strategy states and the budget preview under portfolio/ and a config check,
about 970 lines, and the budget step wired into the strategize node; 20,250: sizing, about
650 lines: portfolio/sizing.py, the Sizer protocol and the kernel's fixed sizer, unsized
intents in the model, the SizerContract of the test kit, [portfolio.sizing], two portfolio
events, and the sizing step wired into the strategize node; 20,450: netting made exactly-
once and audited, about 140: inputs already netted or stored never netted again, each input
guarded, shares checked by ``journal verify``; and about 55: a strategy's breaker/degrade
carried back to one strategist, its own degrade honouring degrade_reducing, '+' reserved in
names, exact fill splits; 20,500: rule-based verdicts (rule, version, approvals) and
decisions that compare the intent's version, for policies, quorums and the approval console;
20,900: the cycle graph as data, about 450: runtime/graph.py (the spec, its routers and the
Cycle a runtime walks), the node specs with their state keys, the runtime and node kinds
with their protocols and hooks, the native runtime as a default plugin, ``runtime-plan``
printing edges and a runtime's drawing; 20,900: four-eyes approval, about 400: the quorum
rules ([approval] in Settings), quorum.py, approvals journaled below the quorum
(Store.record_approval), verify and the executor's preflight checking the quorum, the
approvals in previews and the intents CLI, and one approval event kind; 20,600: about 150
for the per-strategy books a multi-strategy backtest and the report read: the store's ledger
booked fill by fill with each strategy's part (Part), netted fills split by largest
remainder at the quantities' precision, the budgets in force as events, and a strategy's own
positions in StrategyInput; 20,650: about 50 hardening them: config errors naming the
strategy of a bad [portfolio.budgets.<name>] table (any named table), budget amounts
bounded, a removed strategy's positions never sold by the one left; 20,700: about 40 more:
sizing bounded (size_too_large, arithmetic errors dropped, not raised) and a strategy's
target weight and sell cap counted on its own position; 20,530: the approval console's
contracts, about 40: the ``[console]`` section (its users and session lifetime), the
approval and control names it is given in ``tradekernel.api``, and the ``console`` events;
20,700: deployment, about 210 lines, what must hold without tradekernel-deploy: the
live_start_checks hook (fails closed) and the release_settings hook, the active release and
the stage tied to it, the runtime applying an activation at a cycle boundary and run
rebuilding its kernel on the release, the [deploy] section, three deploy events and the
run.lock heartbeat; 21,850: the sizing, runtime-graph, quorum, console and deployment
additions above together, each of their figures counted from 20,450 or 20,500 on its own;
21,900: policies as code, about 50 lines: the [policy] section (require_signature), the
policy events in the catalogue, previews naming a verdict's rule and version (and
risk.verdict events naming them), a factory's refusal keeping exit 3; 22,050: about 140
hardening the runtime graph: a plugin node reads a read-only NodeView and its skill results
are checked and copied before they are merged (its only write), whatever it raises is a
plain node failure (NodeFailed), node names checked, a node's error text bounded and inert
(error_text), a runtime's optional prepare at start, and the commander.checkpoint event;
22,290: approver identity, about 230: approver_name and RESERVED_ACTORS (one normalised,
ASCII name per approver, the kernel's own actors refused), [approval] approvers, the
decision's expiry and the journal row's time read under the write lock, and verify counting
only valid names; 22,360: SLOs, about 70: the [slo] section (objectives with their validated
indicator, target, window and threshold; the burn thresholds, clear_after, min_samples), the
slo events in the catalogue and their names in tradekernel.api; 22,710: self-healing and
adaptive limits, about 310: the [heal] section (per-playbook switches, thresholds), the
Healer that runs the bounded playbooks after each cycle with actor auto (runtime/heal.py), a
breaker latched open when it flaps (released by control resume), the heal and
guard.adaptive_limit events in the catalogue, and the hydrated bars in GuardContext; 22,760:
incidents, about 25: the [incidents] settings section (escalation steps validated where the
configuration is read) and the incident.* events in the catalogue; 22,790:
modules_imported_by in the test kit, about 30, which replaced three identical copies in the
plugins' light-import tests; 23,230: budgets, about 440: the [budgets] section (node latency,
broker request and prompt-size budgets, validated where the configuration is read), the
broker request budget every caller in the process shares (request_budget.py, about 270:
the sliding minute, the order reserve, the budgeted broker the kernel builds, and the
executor's admission before its claim and before a reconcile's resubmit, which only the
kernel can do; a refusal kept out of the routing health), its names in tradekernel.api,
and the budget events in the catalogue;
23,380: about 150 for self-healing that holds across restarts:
the heal record's attempts, opens and healthy counts (written only while degraded), each
strategist's own degrade left by degrade_exit, the stuck check throttled to stuck_after / 4
and the breaker scan to control writes, control resume clearing given-up attempts, and the
[incidents] escalation's notifier names checked when the configuration loads;
23,720: the store as a component, about 330: the
register_stores hook and the sqlite default plugin, [components] store and the [store]
section (its URL validated and masked, TK_STORE_URL), open_store() that every command
opens the state through, and the dialect seam (store/dialect.py) that lets a server store
run the Store's rules instead of a second copy of them; 24,020: agent leases across hosts,
about 300: the lease contract in lease.py (LeaseHeld, LeaseLost, LeaseHolder, LeaseInfo,
the namespace, holding the configured store's lease with its events, the fence), the fence
checked by the runtime and the executor before every claim and order, run and intents
reconcile holding it, [store] namespace and lease_ttl, the lease events in the catalogue;
24,080: the sweeper kind, about 50: the Sweeper protocol and
SweepResult, the register_sweepers hook, [components] sweeper, its names in tradekernel.api
and ``config check`` building a sweeper other than the default; the process pool and the
dask sweeper are plugins; 24,230: about 150 making a budget refusal the
agent's back-pressure and never a failure: the refusal's broker and call, the refused flag
of a reconcile result, the runtime's one handling of it (no incident, no health record, no
cancel, no end of the run: budget.read_skipped, a skipped cycle), the reserve rounded up,
refusal events counted under a lock, order_constraints counted, and [budgets] tables
checked (a table of named values names its key in errors); 24,290: about
60 so that leaving degrade never loosens a trading state it did not set: the degrade record
keeping the journal row of its own reducing, the incident tooling's incident_reducing holds
honoured, a strategist's degrade kept while its breaker is open, a cycle healthy only with
every strategist's breaker closed, and the incident.unreadable, slo.clock_step and heal
strategist fields in the catalogue; 24,340: about 40 for one
store, one agent: the lease's holder namespace and previous_namespace, a loss learned by
the heartbeat after the last check raised as lease.lost (run prints its summary, then exits
3), a release reported only when it reached the database; 24,370: about 20,
Settings.environment_overrides, so a sweep's jobs carry the settings the environment set
and no secret, with only the settings module reading the environment; 24,460: about 90 for
the secrets of a store's server address
found and masked in one place (store_url.py: the password, sslpassword and options in URL
and key=value forms, used by Settings' redactor and the postgres store's messages, and
Settings.add_store_url for store migrate's addresses), a verify inside a caller's
transaction (migrate checks its copy before committing) and intents list before any
state.); 24,740: store/tables.py, a plugin's own tables in the store's database on every
store (TableSpec, Tables, open_tables, the catalogue store migrate copies) and the four
dialect members they need, so the notification, LLM and backtest tables follow the store
to PostgreSQL (issue 22); 24,840: about 90 so a plugin table's name can only be a
portable name (lower case, at most 63 characters, no SQL reserved word, none of the
store's own tables) and store migrate can create a copy's tables inside its transaction
(define_on), with the columns an older plugin version's spec lacks kept in the catalogue.;
24,870: Kernel.close closes the observers it attached (the notification dispatcher's
connection to a server store outlived the kernel) and Tables.set_lock_wait with its dialect
member (a notification claim on a cycle's thread waits briefly); 24,890:
Settings.with_overrides (a backtest derived from settings loaded with overrides, a sweep
worker's environment among them, keeps them); 24,990: the plugin tables' catalogue records
what a table enforces and define refuses a changed type or key, an index name another table
has, PostgreSQL's keywords and system columns, a damaged entry's depth and size, a bad lock
wait (Dialect.index_columns), about 90 lines; 25,010: a transition returns the record it
committed (a read after the commit could show another writer's next change), and the WAL
switch of a new state.db is retried as a busy wait is (processes creating one state together).
"""

MOVED = {
    "tradekernel.report": "tradekernel_report",
    "tradekernel.audit": "tradekernel_audit",
    "tradekernel.backtest": "tradekernel_backtest",
    "tradekernel.promotion": "tradekernel_backtest",
    "tradekernel.notify": "tradekernel_notify",
    "tradekernel.alerts": "tradekernel_ops",
    "tradekernel.ops": "tradekernel_ops",
}


def test_the_kernel_is_under_its_ceiling():
    lines = sum(len(p.read_bytes().splitlines()) for p in KERNEL.rglob("*.py"))
    assert lines <= CEILING, f"kernel/tradekernel holds {lines} lines of Python (ceiling {CEILING})"


@pytest.mark.parametrize(("module", "plugin"), sorted(MOVED.items()))
def test_operator_features_are_plugins_not_kernel_modules(module, plugin):
    path = KERNEL.joinpath(*module.split(".")[1:])
    back = list(path.rglob("*.py")) if path.is_dir() else []
    assert not back and not path.with_suffix(".py").exists(), f"{module} is back in the kernel"
    assert importlib.util.find_spec(plugin) is not None
