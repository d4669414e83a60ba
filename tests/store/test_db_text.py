"""The database's text form of names that are not UTF-8 is reversible for every string a file name can be."""

from __future__ import annotations

import os
import sqlite3

from hypothesis import given
from hypothesis import strategies as st

from hikaze_mm.store.sqlite.text import ESCAPE, from_db, to_db

# Any bytes a Linux name can hold, and text heavy in the characters the escape itself uses.
NAMES = st.binary(min_size=1, max_size=64).filter(lambda b: b"/" not in b and b"\0" not in b).map(os.fsdecode)
TRICKY = st.text(alphabet=st.sampled_from([ESCAPE, "\uefe9", "\uef80", "\uefff", "a", "é", "\udce9", "\udc80"]))


@given(st.one_of(NAMES, TRICKY))
def test_round_trip_through_sqlite(name: str) -> None:
    conn = sqlite3.connect(":memory:")
    conn.text_factory = from_db
    conn.execute("CREATE TABLE t (name TEXT)")
    conn.execute("INSERT INTO t VALUES (?)", (name,))
    (back, kind), = conn.execute("SELECT name, typeof(name) FROM t")
    assert back == name and kind == "text"
    assert conn.execute("SELECT count(*) FROM t WHERE name = ?", (name,)).fetchone() == (1,)
    to_db(name).encode("utf-8")  # what SQLite holds is valid UTF-8


@given(st.text().filter(lambda t: ESCAPE not in t and not any("\ud800" <= c <= "\udfff" for c in t)))
def test_valid_text_is_stored_unchanged(text: str) -> None:
    assert to_db(text) == text


def test_prefixes_stay_prefixes() -> None:
    """Folder queries match `path LIKE folder || '/%'`: the escape of a folder is the start of its files' escape."""
    folder = os.fsdecode(b"/models/caf\xe9")
    assert to_db(folder + "/x.safetensors").startswith(to_db(folder) + "/")
