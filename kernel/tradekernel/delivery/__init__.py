"""Delivery helpers that notifier plugins share: bounded retry (:mod:`.retry`), one HTTP
POST with that retry (:mod:`.http`) and config/secret helpers (:mod:`.support`).

Plugins import these names from :mod:`tradekernel.api` (``RetryPolicy``, ``deliver``,
``post``, ``require_secret``, ...), never from here. Routing, noise control and the
delivery log are the ``tradekernel-notify`` distribution.
"""
