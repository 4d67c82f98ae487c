"""Several strategies in one account: the path from decisions to the guards.

strategize (each strategist, its own breaker and degrade state) -> size
(:mod:`.sizing`) -> resolve conflicts (:mod:`.conflicts`) -> budgets (:mod:`.budgets`)
-> guards. See docs/portfolio.md. The modules import nothing from here: import them
directly.
"""
