"""Secret redaction: mask every secret, its sensitive parts and any long piece of them.

A remote that echoes a request (a webhook answering ``500 no such hook /services/T0/B0/
<token>``, a provider quoting a header, an LLM repeating its key) hands back *parts* of
a secret, often re-cased. So a :class:`Redactor` masks, case-insensitively:

* each secret as a whole (values of 4 to 7 characters, and identifiers such as an SMTP
  user name: only as a whole word, so the secret ``test`` leaves ``latest`` alone);
* its **sensitive parts** (:func:`sensitive_parts`): for a URL the userinfo (and its
  HTTP Basic form, ``base64(user:pass)``), the query, the fragment, the token-like path
  segments after the host and the path's **secret tail** (from the first segment that
  is not a common path word, ``/hooks/catch/``, to the end: ``1234567/o1ab2cd``; common
  words after the token, ``/messages``, are masked only as part of the whole tail); for
  any other value each whitespace- or comma-separated word (the token of
  ``Bearer <token>``; a ``user:password`` word also in its base64 form);
* any run of :data:`MIN_PARTIAL` (8) or more characters of a part: an echo of the
  first 20 characters of a key, upper-cased, is masked like the key.

A part shorter than 8 characters (``hooks``, ``services``, ``Bearer``) is never a
secret on its own, and neither is a URL path segment before the secret tail (the host,
``/services/``, ``/api/webhooks/``): masking ordinary words would garble every message.
The price of the tail rule: a secret URL whose path names an ordinary word that is
not in :data:`COMMON_PATH_WORDS` (``https://ntfy.sh/mytradingalerts``) masks that word
in every text, which is what a topic name that works as a password needs.

The parts are derived once, when a secret is added; the check of a text is one search
of a compiled pattern (a trie of the parts' 8-character pieces), so a text without a
secret costs one regex scan.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

MASK = "********"
MIN_PARTIAL = 8
"""Shortest run of a secret's part that counts as a leak on its own."""
MIN_WHOLE = 4
"""Shorter values are never treated as secrets (they would match everywhere)."""
LONG_SEGMENT = 20
"""A URL path segment this long counts as a token even when it is all one case."""
MEMO_TEXT = 96
MEMO_SIZE = 4096
"""Answers for texts up to ``MEMO_TEXT`` characters are remembered (up to ``MEMO_SIZE``
of them, then forgotten at once): events repeat the same symbols, kinds and reasons."""

COMMON_PATH_WORDS = frozenset(
    {
        "api", "hooks", "hook", "webhook", "webhooks", "services", "service", "catch",
        "trigger", "triggers", "incoming", "notify", "notifications", "notification",
        "events", "event", "alerts", "alert", "messages", "message", "send", "post",
        "channels", "channel", "bot", "bots", "topics", "topic", "publish", "push",
        "json", "rest", "rpc", "public", "integrations", "integration", "tradekernel",
        "v1", "v2", "v3", "v4", "latest", "spaces", "space", "incomingwebhook",
        "incoming-webhook", "webhookb2", "workflows", "workflow", "paths", "invoke",
        "manual", "rooms", "room", "chat", "chats", "execute", "callback", "callbacks",
    }
)  # fmt: skip
"""URL path segments that are not secret on their own: the path's secret tail starts
at the first segment not in this set (compared case-insensitively)."""

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_WORDS = re.compile(r"[\s,;]+")
_BASIC_PAIR = re.compile(r"^[^:/@]+:[^:]+\Z")
"""A secret word shaped like a Basic-auth ``user:password`` pair (as
:func:`url_credentials` registers one), whose base64 form is a secret too."""


def token_like(segment: str) -> bool:
    """A URL path segment that looks like a token rather than a word: at least 8
    characters and a digit, or both upper- and lower-case letters, or 20+ characters."""
    if len(segment) < MIN_PARTIAL:
        return False
    if len(segment) >= LONG_SEGMENT:
        return True
    return any(c.isdigit() for c in segment) or (
        any(c.isupper() for c in segment) and any(c.islower() for c in segment)
    )


def secret_tail(path: str) -> str:
    """The part of a URL path that is secret: from the first segment that is not one of
    :data:`COMMON_PATH_WORDS` to the end, joined with ``/`` (``""`` when there is none).
    ``/hooks/catch/1234567/o1ab2cd/`` → ``1234567/o1ab2cd``."""
    segments = [segment for segment in path.split("/") if segment]
    for index, segment in enumerate(segments):
        if segment.lower() not in COMMON_PATH_WORDS:
            return "/".join(segments[index:])
    return ""


def tail_runs(tail: str) -> list[str]:
    """The runs of a secret tail's segments that are not common path words, each joined
    with ``/``: ``spaces/AAAAq1b2/messages`` → ``["AAAAq1b2"]`` once ``spaces`` and
    ``messages`` are common. A common word after the token is not secret on its own: only
    the whole tail (:func:`whole_parts`) masks it."""
    runs: list[list[str]] = [[]]
    for segment in tail.split("/"):
        if segment.lower() in COMMON_PATH_WORDS:
            runs.append([])
        elif segment:
            runs[-1].append(segment)
    return ["/".join(run) for run in runs if run]


def whole_parts(value: str) -> tuple[str, ...]:
    """Pieces of secret URL ``value`` masked only as a whole: its path's secret tail
    (as written and percent-decoded) when common words break it into several runs."""
    if not _URL.match(value):
        return ()
    try:
        tail = secret_tail(urlsplit(value).path)
    except ValueError:
        return ()
    if len(tail) < MIN_PARTIAL or tail_runs(tail) == [tail]:
        return ()
    return tuple(dict.fromkeys((tail, unquote(tail))))


def sensitive_parts(value: str) -> tuple[str, ...]:
    """The pieces of secret ``value`` that are secrets on their own (8+ characters).

    For a URL (``scheme://...``): user name and password, the query and its values, the
    fragment, the path's :func:`secret_tail` and its segments that are :func:`token_like`
    (each both as written and percent-decoded). The host, the scheme and the common
    segments before the tail (``/services/``, ``/hooks/``) are not secret. For anything
    else: each word (split on whitespace, commas and semicolons) of 8 or more
    characters, so the token of ``Bearer <token>`` is a part and ``Bearer`` is not."""
    parts: list[str] = []
    if _URL.match(value):
        try:
            url = urlsplit(value)
            credentials = [url.username or "", url.password or ""]
        except ValueError:  # a malformed port or host: fall back to its words
            return tuple(w for w in _WORDS.split(value) if len(w) >= MIN_PARTIAL)
        runs = tail_runs(secret_tail(url.path))
        candidates = [
            *credentials,
            *(v for _, v in parse_qsl(url.query, keep_blank_values=True)),
            url.query,
            unquote(url.query),
            url.fragment,
            *runs,
            *(unquote(run) for run in runs),
        ]
        candidates = [c for c in candidates if len(c) >= MIN_PARTIAL]
        for segment in url.path.split("/"):
            spellings = {segment, unquote(segment)}
            candidates.extend(
                s for s in spellings if token_like(s) and s.lower() not in COMMON_PATH_WORDS
            )
        if url.password:  # sent as ``Authorization: Basic base64(user:pass)``
            user, password = url.username or "", url.password
            candidates.extend(
                _basic(pair)
                for pair in {f"{user}:{password}", f"{unquote(user)}:{unquote(password)}"}
            )
        parts.extend(candidates)
    else:
        words = [w for w in _WORDS.split(value) if len(w) >= MIN_PARTIAL]
        parts.extend(words)
        parts.extend(_basic(w) for w in words if _BASIC_PAIR.match(w))
    return tuple(dict.fromkeys(p for p in parts if p))


def _basic(pair: str) -> str:
    """``user:pass`` as HTTP Basic authentication sends it (base64, padding dropped: a
    remote echoing the header hands it back in that form)."""
    return base64.b64encode(pair.encode("utf-8")).decode("ascii").rstrip("=")


def url_credentials(value: str) -> list[str]:
    """The secrets in a URL's userinfo, for a URL that is not itself a secret (a
    ``base_url = "http://user:pass@host/v1"``): ``user:pass`` and the password (``[]``
    for anything else). A user name alone is not a secret."""
    if not _URL.match(value) or "@" not in value:
        return []
    try:
        url = urlsplit(value)
        user, password = url.username, url.password
    except ValueError:
        return []
    if not password:
        return []
    user = user or ""
    pairs = {f"{user}:{password}", f"{unquote(user)}:{unquote(password)}"}
    return [*sorted(pairs), *sorted({password, unquote(password)})]


def mask_url_credentials(value: str) -> str:
    """``value`` with a URL's password, user name and query values masked (for display:
    ``http://user:pass@host/?code=abc`` → ``http://********@host/?code=********``);
    anything that is not a URL is returned as is."""
    if not _URL.match(value) or ("@" not in value and "?" not in value):
        return value
    try:
        url = urlsplit(value)
        host = url.hostname or ""
        port = f":{url.port}" if url.port else ""
    except ValueError:
        return MASK
    netloc = f"{MASK}@{host}{port}" if "@" in url.netloc else url.netloc
    query = url.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if "=" in query and pairs:
            query = urlencode([(k, MASK if v else v) for k, v in pairs], safe="*")
        else:  # "?token": the query is the value
            query = MASK
    return urlunsplit((url.scheme, netloc, url.path, query, url.fragment))


class Redactor:
    """Masks a growing set of secrets in text; see the module docstring for the rules."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: dict[str, bool] = {}
        """Each secret and whether its parts and pieces are secrets too (``partial``)."""
        # (probe, search, starts, starts_any_case) and the memo, swapped as one so that
        # a reader in another thread (a notifier's delivery) never mixes two builds
        self._state: tuple[tuple[re.Pattern[str], ...] | None, dict[str, str]] = (None, {})
        for value in secrets:
            self.add(value, rebuild=False)
        self._build()

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def add(self, value: str | None, *, rebuild: bool = True, partial: bool = True) -> bool:
        """Treat ``value`` (and, when ``partial``, its parts and their 8+ character
        pieces) as secret from now on; ``False`` when it is too short or already known.

        ``partial=False`` is for identifiers that are not credentials on their own (an
        SMTP user name such as ``portfolio@fund.example``): only the whole value is
        masked, and only as a whole word, so ``portfolio`` alone stays readable."""
        if not value or len(value) < MIN_WHOLE:
            return False
        if value in self._secrets and self._secrets[value] >= partial:
            return False
        self._secrets[value] = partial
        if rebuild:
            self._build()
        return True

    def redact(self, text: str) -> str:
        """``text`` with every secret, part and 8+ character piece of one masked."""
        patterns, memo = self._state
        if patterns is None or len(text) < MIN_WHOLE:
            return text
        if len(text) > MEMO_TEXT:
            return _redact(text, patterns)
        answer = memo.get(text)
        if answer is None:
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            answer = memo[text] = _redact(text, patterns)
        return answer

    def _build(self) -> None:
        self._state = (self._compile(), {})

    def _compile(self) -> tuple[re.Pattern[str], ...] | None:
        if not self._secrets:
            return None
        wholes: set[str] = set()
        grams: set[str] = set()
        # A cheap first test: every piece of 8 of a part holds one of the part's 4-grams
        # at a multiple of 4, and a whole value holds its own last four characters.
        probes: set[str] = set()
        bounded: set[str] = set()
        for value, partial in self._secrets.items():
            whole = value.lower() if len(value.lower()) == len(value) else value
            probes.add(whole[-MIN_WHOLE:])
            if len(value) < MIN_PARTIAL or not partial:
                bounded.add(whole)
                continue
            wholes.add(whole)
            wholes.update(_folded(part) for part in whole_parts(value))
            for part in sensitive_parts(value):
                grams.update(_grams(part))
                folded = part.lower() if len(part.lower()) == len(part) else part
                probes.update(folded[i : i + 4] for i in range(0, len(folded) - 3, 4))
        alternatives = [_as_word(w) for w in sorted(bounded, key=len, reverse=True)]
        alternatives += [re.escape(w) for w in sorted(wholes, key=len, reverse=True)]
        if grams:
            alternatives.append(_trie_pattern(grams))
        pattern = "|".join(alternatives)
        # The text is lower-cased before the search: a case-sensitive pattern over the
        # folded text is several times faster than an IGNORECASE one.
        return (
            re.compile(_trie_pattern(probes)),
            re.compile(pattern),
            # every start position of a match, overlapping ones included
            re.compile(f"(?=({pattern}))"),
            re.compile(f"(?=({pattern}))", re.IGNORECASE),
        )


def _redact(text: str, patterns: tuple[re.Pattern[str], ...]) -> str:
    probe, search, starts, starts_any_case = patterns
    folded = text.lower()
    if len(folded) != len(text):  # a rare Unicode case mapping changed the length
        return _mask(text, starts_any_case)
    if not probe.search(folded) or not search.search(folded):
        return text
    return _mask(text, starts, folded)


def _mask(text: str, starts: re.Pattern[str], folded: str | None = None) -> str:
    """``text`` with the union of all (overlapping) matches of ``starts`` masked, each
    run of touching matches as one ``********``."""
    spans: list[list[int]] = []
    for match in starts.finditer(text if folded is None else folded):
        start, end = match.start(), match.start() + len(match.group(1))
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out.append(text[last:start])
        out.append(MASK)
        last = end
    out.append(text[last:])
    return "".join(out)


def _as_word(value: str) -> str:
    """A pattern for ``value`` that does not match inside a longer word (no letter or
    digit right before or after it)."""
    before = r"(?<![^\W_])" if value[:1].isalnum() else ""
    after = r"(?![^\W_])" if value[-1:].isalnum() else ""
    return before + re.escape(value) + after


def redact_deep(value: Any, redact: Callable[[str], str]) -> Any:
    """``value`` with ``redact`` applied to every string in it (dicts and lists copied,
    keys kept, anything else returned as is)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_deep(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_deep(v, redact) for v in value]
    return value


def _folded(text: str) -> str:
    """``text`` lower-cased, unless a rare Unicode case mapping changes its length."""
    folded = text.lower()
    return folded if len(folded) == len(text) else text


def _grams(part: str) -> set[str]:
    folded = part.lower()
    if len(folded) != len(part):  # a rare Unicode case mapping: keep the text as given
        folded = part
    return {folded[i : i + MIN_PARTIAL] for i in range(len(folded) - MIN_PARTIAL + 1)}


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex matching exactly ``words`` (all the same length), built as a trie so
    that the engine skips positions whose character starts no word and tests only one
    branch per character after that."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})

    def emit(node: dict[str, dict]) -> str:
        if not node:
            return ""
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items())]
        if len(branches) == 1:
            return branches[0]
        return "(?:" + "|".join(branches) + ")"

    return emit(trie)
