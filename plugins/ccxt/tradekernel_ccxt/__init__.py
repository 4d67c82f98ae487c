"""tradekernel CCXT plugin."""
