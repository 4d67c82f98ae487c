"""The journal anchor: the journal's head (sequence and hash) kept outside the database.

``<state_dir>/journal.anchor`` survives the loss of ``state.db`` and its WAL (a file
truncated to zero bytes, a deleted WAL, a rolled-back copy). It is written after the
journal rows it names were committed (once per runtime cycle and when a command that
appended closes the store), so the journal may be ahead of the anchor, never behind it.
A journal that ends before the anchor, or whose row at the anchor's seq has another
hash, was truncated or rewritten: verify fails and writers refuse to adopt it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from attrs import frozen

from ..files import atomic_write
from ..models import utcnow
from .db import ts_text
from .journal import LAST_ROW_SQL
from .states import StateLost

ANCHOR_FILENAME = "journal.anchor"
ANCHOR_SCHEMA = "journal-anchor.v1"


@frozen
class Anchor:
    """The journal head recorded at ``written_at``: row ``seq`` has hash ``hash``."""

    seq: int
    hash: str
    written_at: str | None = None


def anchor_path(state_dir: str | Path) -> Path:
    """The journal anchor's file in ``state_dir``."""
    return Path(state_dir) / ANCHOR_FILENAME


def read_anchor(state_dir: str | Path) -> Anchor | None:
    """The anchor in ``state_dir``, ``None`` when there is none; :class:`StateLost`
    (exit 2) when it cannot be read or makes no sense (it is written atomically, so a
    damaged anchor was edited)."""
    path = anchor_path(state_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):  # no anchor (nor state dir) yet
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StateLost(
            f"{path}: cannot read the journal anchor ({exc}); nothing was changed"
        ) from None
    try:
        data = json.loads(text)
        seq, hash_ = data["seq"], data["hash"]
        if type(seq) is not int or not isinstance(hash_, str):  # not 1e400, true, "60"
            raise ValueError("seq must be an integer and hash a string")
        anchor = Anchor(seq, hash_, data.get("written_at"))
        if data.get("schema") != ANCHOR_SCHEMA or anchor.seq < 0 or len(anchor.hash) != 64:
            raise ValueError(f"not a {ANCHOR_SCHEMA} head")
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as exc:
        raise StateLost(
            f"{path}: the journal anchor is damaged ({exc}); restore it from an audit "
            "archive's manifest (journal_head) or a backup; nothing was changed"
        ) from None
    return anchor


def write_anchor(state_dir: str | Path, seq: int, hash_: str, *, now: object = None) -> Anchor:
    """Write the anchor atomically and fsynced (temporary file + rename)."""
    anchor = Anchor(seq, hash_, ts_text(now or utcnow()))  # type: ignore[arg-type]
    body = {"schema": ANCHOR_SCHEMA, "seq": seq, "hash": hash_, "written_at": anchor.written_at}
    atomic_write(anchor_path(state_dir), json.dumps(body, sort_keys=True) + "\n")
    return anchor


def head(conn: sqlite3.Connection) -> tuple[int, str | None]:
    """The journal's last ``(seq, hash)``; ``(0, None)`` when it is empty or missing."""
    try:
        row = conn.execute(LAST_ROW_SQL).fetchone()
    except sqlite3.OperationalError:  # no journal table: an empty database
        return 0, None
    return (row[0], row[1]) if row else (0, None)


def disagreement(conn: sqlite3.Connection | None, anchor: Anchor) -> str | None:
    """Why the journal in ``conn`` (``None``: no database at all) is not at or past
    ``anchor``, or ``None`` when it is."""
    last = head(conn)[0] if conn is not None else 0
    if last < anchor.seq:
        return f"journal truncated: anchor at seq {anchor.seq}, journal ends at {last}"
    if anchor.seq == 0:
        return None
    row = conn.execute("SELECT hash FROM journal WHERE seq = ?", (anchor.seq,)).fetchone()  # type: ignore[union-attr]
    if row is None or row[0] != anchor.hash:
        return (
            f"journal rewritten: the row at the anchor's seq {anchor.seq} does not have the "
            "anchored hash"
        )
    return None


def lost_message(state_dir: str | Path, problem: str) -> str:
    """The one line every refusal of a lost database says."""
    return (
        f"{Path(state_dir) / 'state.db'}: {problem}: the state database was lost, truncated "
        f"or rolled back, and will not be adopted; {restore_hint(state_dir)}; nothing was "
        "changed"
    )


def refuse_lost(state_dir: str | Path) -> None:
    """Raise :class:`StateLost` (exit 2) when ``<state_dir>/journal.anchor`` says the
    journal in ``state.db`` (missing or not) was longer or other: what :meth:`Store.open`
    refuses, for modules that keep their own tables in the file (notification log,
    event sink, LLM cache) and would otherwise create or write into it. The database is
    read read-only; a damaged one is left to the store to report."""
    anchor = read_anchor(state_dir)
    if anchor is None:
        return
    db = Path(state_dir) / "state.db"
    problem = None
    conn = None
    try:
        if db.exists():
            conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        problem = disagreement(conn, anchor)
    except sqlite3.DatabaseError:
        problem = None
    finally:
        if conn is not None:
            conn.close()
    if problem is not None:
        raise StateLost(lost_message(state_dir, problem))


def restore_hint(state_dir: str | Path) -> str:
    """What an operator can do when the store and the anchor disagree."""
    return (
        "restore the state from a copy: `tradekernel audit restore BACKUP --state-dir NEW_DIR` "
        "with a file written by `tradekernel journal backup`, then point [kernel] state_dir at "
        "NEW_DIR (or start afresh in a new state_dir); the broker's account (paper: the "
        "[broker.paper] db, by default paper.db in the state dir) must come from the same "
        "moment as that copy, or point the agent at a new account; the anchor is "
        f"{anchor_path(state_dir)}"
    )
