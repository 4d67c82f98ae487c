"""The hand-made price file shared by backtest and promotion tests: sma-cross (fast 2,
slow 3) trades exactly three round trips on it, plus one trade left open at the end."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

# close of each bar; opens are the previous close + 0.25 unless given in OPENS
CLOSES = [
    10,
    10,
    10,
    10,
    12,
    12,
    12,
    9,
    9,
    9,
    11,
    11,
    11,
    8,
    8,
    8,
    13,
    13,
    13,
    10,
    10,
    10,
    10,
    14,
    14,
    15,
]
OPENS = {14: 12.0}
START = date(2024, 1, 1)


def opens() -> list[float]:
    return [OPENS.get(i, CLOSES[i - 1] + 0.25 if i else CLOSES[0]) for i in range(len(CLOSES))]


def write_hand_csv(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["Date,Open,High,Low,Close,Volume"]
    for i, (o, c) in enumerate(zip(opens(), CLOSES, strict=True)):
        day = START + timedelta(days=i)
        lines.append(f"{day.isoformat()},{o},{max(o, c)},{min(o, c)},{c},1000000")
    path.write_text("\n".join(lines) + "\n")
    return path
