"""Regenerate the bundled sample CSV files (deterministic: the output never changes)."""

from tradekernel_marketdata.sample import write_sample

if __name__ == "__main__":
    for path in write_sample():
        print(path)
