"""The portfolio steps between the strategists and the guards: sizing (``sizing``),
each its own module (docs/portfolio.md)."""
