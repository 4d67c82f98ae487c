"""Several strategies in one account: the steps between the strategists and the guards
(docs/portfolio.md)."""
