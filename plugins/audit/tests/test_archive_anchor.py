"""Every audit bundle records the journal's head and the state's journal anchor, so a
state.db that later ends before them is evidently short (docs/state.md, the anchor)."""

from __future__ import annotations

import sqlite3

from .conftest import DAY, DAY2


def test_the_manifest_records_the_journal_head_and_the_anchor(env):
    env.seed(DAY)
    env.seed(DAY2, intents=1, events=2)
    conn = sqlite3.connect(env.state_dir / "state.db")
    seq, hash_ = conn.execute("SELECT seq, hash FROM journal ORDER BY seq DESC").fetchone()
    conn.close()
    code, _, err = env.cli("audit", "archive", "--date", DAY)
    assert code == 0, err
    journal = env.manifest(DAY)["journal"]
    assert journal["last_seq"] == 5 < seq == 8  # the day's rows, then the whole head
    assert (journal["head_seq"], journal["head_hash"]) == (seq, hash_)
    assert journal["anchor"] == {"seq": seq, "hash": hash_}
    code, out, err = env.cli("audit", "verify", str(env.bundle(DAY)))
    assert code == 0, out + err
