"""Record and replay provider answers, keyed on the request digest.

``record_dir`` gets one file per distinct request, ``<digest>.json``, holding the
request (model, messages, options) and the answer. ``replay_dir`` answers from those
files and never touches the network; a request with no file is a :class:`ReplayMiss`.

An answer that held a configured secret is recorded redacted with ``secret_in_answer:
true``: its redacted text may still read as a valid trade, so replay must hold it again.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from attrs import frozen
from tradekernel.api import ChatRequest, ChatResponse, digest

from .store import response_from_dict, response_to_dict

RECORD_SCHEMA = "llm_record.v1"


class ReplayMiss(Exception):
    """No recorded answer exists for this request."""

    def __init__(self, key: str, directory: Path) -> None:
        super().__init__(f"no recorded answer {key}.json in {directory}")
        self.key = key


@frozen
class Recorded:
    """A replayed answer and whether it held a secret when it was recorded."""

    response: ChatResponse
    secret_in_answer: bool = False


def request_dict(request: ChatRequest) -> dict[str, Any]:
    """The part of a request that determines the answer (what the digest covers)."""
    return {
        "model": request.model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "response_schema": request.response_schema,
        "schema_name": request.schema_name,
    }


def request_digest(request: ChatRequest) -> str:
    """SHA-256 of the canonical JSON of :func:`request_dict`."""
    return digest(request_dict(request))


def record(
    directory: Path,
    key: str,
    request: ChatRequest,
    response: ChatResponse,
    *,
    secret_in_answer: bool = False,
) -> Path:
    """Write ``<key>.json`` atomically; returns its path. ``response`` must already be
    redacted; ``secret_in_answer`` says the redaction found a secret in it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{key}.json"
    body = {
        "schema": RECORD_SCHEMA,
        "digest": key,
        "request": request_dict(request),
        "response": response_to_dict(response),
    }
    if secret_in_answer:
        body["secret_in_answer"] = True
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(body, fh, indent=1, sort_keys=True)
    os.replace(tmp, path)
    return path


def replay(directory: Path, key: str) -> Recorded:
    """The recorded answer for ``key``, or :class:`ReplayMiss`. Recordings written
    without the ``secret_in_answer`` flag replay as answers that held no secret."""
    path = directory / f"{key}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        response = response_from_dict(data["response"])
        secret = data.get("secret_in_answer") is True
    except FileNotFoundError:
        raise ReplayMiss(key, directory) from None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ReplayMiss(key, directory) from exc
    response.provider = "replay"
    return Recorded(response, secret)
