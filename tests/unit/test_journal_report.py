"""``tui-trader journal``: one New York trading day read from a real journal (built with the
real Journal API), read-only -- byte-identical afterwards, working while an engine holds the
journal's lock and a write transaction -- and bad input refused with one sentence, exit 2."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tui_trader.cli import main
from tui_trader.core.auto import Candidate, CandidateKey, CandidateState
from tui_trader.core.models import EventLevel, Fill, IntentStatus, SpreadLeg, SpreadOrderSpec
from tui_trader.engine.lock import EngineLockedError, engine_lock
from tui_trader.journal_report import JSON_KEYS, new_york_day
from tui_trader.state.journal import MIGRATIONS, Journal, migrate

DAY = date(2026, 11, 18)  # a Wednesday; New York is UTC-5
T = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # 10:00 ET


def spec(symbol: str, action: str = "BUY", limit: float | None = 1.85) -> SpreadOrderSpec:
    legs = tuple(
        SpreadLeg(con_id=c, symbol=symbol, expiry="20261218", strike=k, right="C", action=a)
        for c, k, a in ((11, 200.0, "BUY"), (12, 205.0, "SELL"))
    )
    return SpreadOrderSpec(
        underlying=symbol, direction="LONG", legs=legs, action=action, quantity=2,
        order_type="LMT" if limit is not None else "MKT", limit_price=limit, mode="paper",
    )  # fmt: skip


def ids() -> Any:
    n = iter(range(1, 100))
    return lambda: f"tt-{next(n):012x}"


def fill(exec_id: str, con_id: int, side: str, price: float, t: datetime, ref: str) -> Fill:
    return Fill(
        exec_id=exec_id, order_id=7, perm_id=900, con_id=con_id, symbol="AAPL", side=side,
        quantity=2.0, price=price, time=t, commission=1.3, order_ref=ref,
    )  # fmt: skip


def build(path: Path) -> None:
    """A day of trading through the real Journal API, with neighbours on both sides of
    New York midnight that must stay out of the report."""
    with Journal(path, new_id=ids()) as j:
        # 22:00 ET on the 17th (already the 18th in UTC): the day before
        j.record_intent(spec("MSFT"), datetime(2026, 11, 18, 3, 0, tzinfo=UTC))  # tt-..1
        j.log_event(EventLevel.INFO, "risk", "late yesterday",
                    datetime(2026, 11, 18, 4, 59, 59, tzinfo=UTC))  # fmt: skip
        j.log_event(EventLevel.INFO, "scan", "midnight", datetime(2026, 11, 18, 5, tzinfo=UTC))
        entry = j.record_intent(spec("AAPL"), T)  # tt-..2
        j.mark_sent(entry.intent_id, 7, T + timedelta(seconds=1))
        for n, (con, side, price) in enumerate(((11, "BOT", 3.10), (12, "SLD", 1.30))):
            t = T + timedelta(seconds=3 + n)
            j.add_fill(fill(f"e{n}", con, side, price, t, entry.intent_id))
        j.update_from_ib(entry.intent_id, T + timedelta(seconds=5),
                         status=IntentStatus.FILLED, filled=2, avg_fill_price=1.80)  # fmt: skip
        key = CandidateKey(DAY, "AAPL", "LONG")
        c = Candidate(key, "breakout", CandidateState.QUEUED, T - timedelta(minutes=30),
                      T - timedelta(minutes=30))  # fmt: skip
        j.add_candidate(c)
        c = c.moved(CandidateState.SELECTING, T - timedelta(seconds=9))
        j.put_candidate(c)
        j.put_candidate(c.moved(CandidateState.SENT, T, intent_id=entry.intent_id,
                                detail={"debit": 1.85, "quantity": 2}))  # fmt: skip
        skipped = Candidate(CandidateKey(DAY, "MSFT", "SHORT"), "breakdown",
                            CandidateState.QUEUED, T, T)  # fmt: skip
        j.add_candidate(skipped)
        j.put_candidate(skipped.moved(CandidateState.SKIPPED, T, reason="no_spread"))
        j.add_candidate(Candidate(CandidateKey(date(2026, 11, 17), "SPY", "LONG"), "pullback",
                                  CandidateState.QUEUED, T, T))  # fmt: skip
        # the auto-trader's exit of the AAPL spread at 15:40 ET: a closing order, rejected
        t_exit = datetime(2026, 11, 18, 20, 40, tzinfo=UTC)
        close = j.record_intent(spec("AAPL", "SELL", None), t_exit)  # tt-..3
        j.update_from_ib(close.intent_id, t_exit, status=IntentStatus.REJECTED,
                         error_code=201, error_text="no margin")  # fmt: skip
        j.put_kv(f"auto/exit/{entry.intent_id}", {
            "symbol": "AAPL", "rule": "STOP", "attempts": 1, "intent_id": close.intent_id,
            "state": "SENT", "day": "2026-11-18", "updated_at": t_exit.isoformat(),
        })  # fmt: skip
        j.put_kv("auto/exit/tt-old", {"symbol": "SPY", "rule": "TIME", "attempts": 1,
                                      "intent_id": None, "state": "PENDING",
                                      "day": "2026-11-17"})  # fmt: skip
        j.log_event(EventLevel.ERROR, "exit", "AAPL: the STOP exit was rejected", t_exit,
                    intent_id=entry.intent_id)  # fmt: skip
        # 23:30 ET on the 18th (the 19th in UTC): still the 18th
        j.record_intent(spec("SPY"), datetime(2026, 11, 19, 4, 30, tzinfo=UTC))  # tt-..4
        j.log_event(EventLevel.INFO, "scan", "tomorrow",
                    datetime(2026, 11, 19, 5, 0, tzinfo=UTC))  # fmt: skip


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "journal.sqlite3"
    build(path)
    yield path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["journal", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def leg(con_id: int, strike: float, action: str) -> dict[str, Any]:
    return {"con_id": con_id, "expiry": "20261218", "strike": strike, "right": "C",
            "action": action, "ratio": 1}  # fmt: skip


def order(iid: str, symbol: str, created: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "intent_id": iid, "order_ref": iid, "symbol": symbol, "direction": "LONG",
        "action": "BUY", "legs": [leg(11, 200.0, "BUY"), leg(12, 205.0, "SELL")],
        "quantity": 2, "order_type": "LMT", "limit": 1.85, "mode": "paper",
        "status": "PENDING_SEND", "filled": 0, "avg_fill_price": None, "commission": None,
        "error_code": None, "error_text": None, "auto": None, "created_at": created,
        "updated_at": created, "fills": [],
    }  # fmt: skip
    base.update(changes)
    return base


def test_the_day_as_exact_json(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--day", "2026-11-18", "--json", "--journal", str(journal))
    assert (code, err) == (0, "")
    aapl = "tt-000000000002"
    fills = [
        {"exec_id": "e0", "con_id": 11, "symbol": "AAPL", "side": "BOT", "quantity": 2.0,
         "price": 3.10, "commission": 1.3, "time": "2026-11-18T15:00:03+00:00"},
        {"exec_id": "e1", "con_id": 12, "symbol": "AAPL", "side": "SLD", "quantity": 2.0,
         "price": 1.30, "commission": 1.3, "time": "2026-11-18T15:00:04+00:00"},
    ]  # fmt: skip
    assert json.loads(out) == {
        "journal": str(journal),
        "day": "2026-11-18",
        "timezone": "America/New_York",
        "candidates": [
            {"key": "2026-11-18 AAPL LONG", "symbol": "AAPL", "direction": "LONG",
             "strategy": "breakout", "state": "SENT", "reason": None, "intent_id": aapl,
             "created_at": "2026-11-18T14:30:00+00:00",
             "updated_at": "2026-11-18T15:00:00+00:00",
             "detail": {"debit": 1.85, "quantity": 2}},
            {"key": "2026-11-18 MSFT SHORT", "symbol": "MSFT", "direction": "SHORT",
             "strategy": "breakdown", "state": "SKIPPED", "reason": "no_spread",
             "intent_id": None, "created_at": "2026-11-18T15:00:00+00:00",
             "updated_at": "2026-11-18T15:00:00+00:00", "detail": {}},
        ],
        "orders": [
            order(aapl, "AAPL", "2026-11-18T15:00:00+00:00", status="FILLED", filled=2,
                  avg_fill_price=1.80, commission=2.6, auto="entry",
                  updated_at="2026-11-18T15:00:05+00:00", fills=fills),
            order("tt-000000000003", "AAPL", "2026-11-18T20:40:00+00:00", action="SELL",
                  order_type="MKT", limit=None, status="REJECTED", error_code=201,
                  error_text="no margin", auto="exit"),
            order("tt-000000000004", "SPY", "2026-11-19T04:30:00+00:00"),
        ],
        "exits": [
            {"spread": aapl, "symbol": "AAPL", "rule": "STOP", "state": "SENT", "attempts": 1,
             "intent_id": "tt-000000000003", "order_status": "REJECTED",
             "updated_at": "2026-11-18T20:40:00+00:00"},
        ],
        "events": [
            {"time": t, "level": lv, "kind": k, "text": x, "intent_id": i}
            for t, lv, k, x, i in [
                ("2026-11-18T05:00:00+00:00", "INFO", "scan", "midnight", None),
                ("2026-11-18T15:00:00+00:00", "INFO", "order",
                 "journaled BUY 2 AAPL 20261218 200/205 C LMT 1.85 (paper)", aapl),
                ("2026-11-18T15:00:01+00:00", "INFO", "order", "PENDING_SEND -> SENT", aapl),
                ("2026-11-18T15:00:03+00:00", "INFO", "fill",
                 "BOT 2 AAPL (conId 11) @ 3.10", aapl),
                ("2026-11-18T15:00:04+00:00", "INFO", "fill",
                 "SLD 2 AAPL (conId 12) @ 1.30", aapl),
                ("2026-11-18T15:00:05+00:00", "INFO", "order", "SENT -> FILLED", aapl),
                ("2026-11-18T15:00:05+00:00", "INFO", "order", "filled 2 of 2", aapl),
                ("2026-11-18T20:40:00+00:00", "INFO", "order",
                 "journaled SELL 2 AAPL 20261218 200/205 C MKT (paper)", "tt-000000000003"),
                ("2026-11-18T20:40:00+00:00", "INFO", "order", "PENDING_SEND -> REJECTED",
                 "tt-000000000003"),
                ("2026-11-18T20:40:00+00:00", "ERROR", "order", "IB error 201: no margin",
                 "tt-000000000003"),
                ("2026-11-18T20:40:00+00:00", "ERROR", "exit",
                 "AAPL: the STOP exit was rejected", aapl),
                ("2026-11-19T04:30:00+00:00", "INFO", "order",
                 "journaled BUY 2 SPY 20261218 200/205 C LMT 1.85 (paper)", "tt-000000000004"),
            ]
        ],
    }  # fmt: skip


def test_every_json_key_is_in_the_documented_table(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "--day", "2026-11-18", "--json", "--journal", str(journal))
    data = json.loads(out)
    assert tuple(data) == JSON_KEYS["report"]
    for part in ("candidates", "orders", "exits", "events"):
        assert tuple(data[part][0]) == JSON_KEYS[part]
    assert tuple(data["orders"][0]["legs"][0]) == JSON_KEYS["legs"]
    assert tuple(data["orders"][0]["fills"][0]) == JSON_KEYS["fills"]
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for part, keys in JSON_KEYS.items():
        row = next(r for r in readme.splitlines() if r.strip().startswith(f"| {part} |"))
        cells = row.split("|")[2].strip()
        named = re.findall(r"(?:^|, )`(\w+)`", cells)  # each key, not the notes after it
        assert tuple(named) == keys, part


def test_the_text_report(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--day", "2026-11-18", "--journal", str(journal))
    assert code == 0
    lines = out.splitlines()
    assert lines[:2] == [f"Journal: {journal}", "Day: 2026-11-18 (New York time)"]
    assert "Candidates (2):" in lines and "Orders (3):" in lines and "Exits (1):" in lines
    assert "  09:30:00  AAPL LONG breakout: SENT at 10:00:00 order tt-000000000002" in lines
    assert "  10:00:00  MSFT SHORT breakdown: SKIPPED (no_spread) at 10:00:00" in lines
    assert (
        "  10:00:00  tt-000000000002  BUY 2 AAPL 20261218 200/205 C LMT 1.85 (paper): "
        "FILLED 2/2 @ 1.80, commission 2.60" in lines
    )
    assert "    fill 10:00:03 BOT 2 AAPL (conId 11) @ 3.10, commission 1.30" in lines
    assert (
        "  AAPL (spread tt-000000000002): rule STOP, SENT, order tt-000000000003 REJECTED, "
        "1 attempt(s)" in lines
    )
    assert "  15:40:00  ERROR   exit     AAPL: the STOP exit was rejected" in lines
    assert "late yesterday" not in out and "tomorrow" not in out and "MSFT 20261218" not in out


def test_a_quiet_day_says_so(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--day", "2026-11-20", "--journal", str(journal))
    assert code == 0 and out.endswith("Nothing was journaled on this day.\n")
    code, out, _ = run(capsys, "--day", "2026-11-20", "--json", "--journal", str(journal))
    data = json.loads(out)
    assert [data[k] for k in ("candidates", "orders", "exits", "events")] == [[], [], [], []]


def test_the_default_day_is_today_in_new_york() -> None:
    assert new_york_day(datetime(2026, 11, 19, 4, 59, tzinfo=UTC)) == date(2026, 11, 18)
    assert new_york_day(datetime(2026, 11, 19, 5, 0, tzinfo=UTC)) == date(2026, 11, 19)
    assert new_york_day(datetime(2026, 7, 1, 3, 59, tzinfo=UTC)) == date(2026, 6, 30)  # EDT


def test_without_day_the_cli_reports_today_in_new_york(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = new_york_day(datetime.now(UTC))
    code, out, _ = run(capsys, "--json", "--journal", str(journal))
    assert code == 0
    assert json.loads(out)["day"] in {
        before.isoformat(),
        new_york_day(datetime.now(UTC)).isoformat(),
    }


def files(path: Path) -> dict[str, str]:
    """Every file in the journal's folder and its digest."""
    return {
        f.name: hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(path.parent.iterdir())
        if not f.name.endswith("-shm")  # SQLite's shared-memory index, not data
    }


def test_the_journal_is_left_byte_identical(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(p.name for p in journal.parent.iterdir())
    digests = files(journal)
    assert before == ["journal.sqlite3"]  # closed cleanly: no -wal, no -shm
    for args in ((), ("--json",)):
        assert run(capsys, "--day", "2026-11-18", "--journal", str(journal), *args)[0] == 0
    assert files(journal) == digests
    assert sorted(p.name for p in journal.parent.iterdir()) == before  # no sidecar left


def test_a_version_1_journal_is_read_not_migrated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.sqlite3"
    raw = sqlite3.connect(path, autocommit=True)
    migrate(raw, MIGRATIONS[:1])
    raw.execute(
        "INSERT INTO events (time, level, kind, text) VALUES (?, 'INFO', 'scan', 'old day')",
        (T.isoformat(),),
    )
    raw.close()
    digest = files(path)
    code, out, _ = run(capsys, "--day", "2026-11-18", "--json", "--journal", str(path))
    assert code == 0
    data = json.loads(out)
    assert data["candidates"] == [] and [e["text"] for e in data["events"]] == ["old day"]
    assert files(path) == digest  # Journal() would have migrated it to version 2
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
    raw.close()


def report(journal: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui_trader.cli", "journal", "--day", "2026-11-18", "--json",
         "--journal", str(journal)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_it_reads_beside_an_engine_holding_the_lock_and_a_write(journal: Path) -> None:
    """What a running engine does to the file: the engine lock held, the journal open in
    WAL mode with commits not yet checkpointed, and a write transaction in progress."""
    with engine_lock(journal), Journal(journal, new_id=lambda: "tt-0000000000aa") as j:
        j.record_intent(spec("QQQ"), T + timedelta(hours=1))  # committed to the WAL only
        writer = sqlite3.connect(journal, autocommit=True)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO kv (key, value) VALUES ('uncommitted', '1')")
        digests = files(journal)
        assert "journal.sqlite3-wal" in digests
        out = report(journal)
        assert out.returncode == 0, out.stderr
        orders = [o["intent_id"] for o in json.loads(out.stdout)["orders"]]
        assert orders[-1] == "tt-0000000000aa"  # the WAL's commit is seen
        assert files(journal) == digests  # neither the file nor its WAL was written
        writer.execute("COMMIT")  # the writer was never blocked
        writer.close()
        with pytest.raises(EngineLockedError), engine_lock(journal):
            pass  # and the lock is still the engine's


def test_the_exit_key_is_the_auto_traders() -> None:
    from tui_trader.engine.auto_exits import EXIT_KEY as ENGINE_EXIT_KEY
    from tui_trader.journal_report import EXIT_KEY

    assert EXIT_KEY == ENGINE_EXIT_KEY


def foreign(tmp_path: Path) -> Path:
    path = tmp_path / "places.sqlite"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    raw.commit()
    raw.close()
    return path


def too_new(tmp_path: Path) -> Path:
    path = tmp_path / "new.sqlite3"
    Journal(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    raw.commit()
    raw.close()
    return path


def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("not a database, but long enough to have a header of sorts\n" * 20)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.sqlite3", "there is no journal at"),
        (lambda p: p, "is not a file"),
        (text_file, "is not a tui-trader journal (not an SQLite database)"),
        (foreign, "is not a tui-trader journal (an SQLite database of another program)"),
        (
            too_new,
            f"version {len(MIGRATIONS) + 1}, but this tui-trader reads only up to "
            f"{len(MIGRATIONS)}: upgrade tui-trader",
        ),
    ],
)
def test_bad_journals_are_one_sentence_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, message: str
) -> None:
    path = make(tmp_path)
    before = files(path / "x") if path.is_dir() else files(path)
    code, out, err = run(capsys, "--journal", str(path))
    assert (code, out) == (2, "")
    assert err.startswith("tui-trader: ") and message in err and err.count("\n") == 1
    assert "Traceback" not in err
    assert (files(path / "x") if path.is_dir() else files(path)) == before


@pytest.mark.parametrize("day", ["2026-13-01", "yesterday", "2026-11-31"])
def test_a_bad_day_is_one_sentence_and_exit_2(
    journal: Path, capsys: pytest.CaptureFixture[str], day: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["journal", "--day", day, "--journal", str(journal)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err == f"tui-trader: argument --day: {day!r} is not a date of the form YYYY-MM-DD\n"


def test_a_daylight_saving_day_has_its_25_hours(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """2026-11-01 (clocks go back): 04:00 UTC to 05:00 UTC the next day."""
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as j:
        for text, t in (("before", datetime(2026, 11, 1, 3, 59, 59, tzinfo=UTC)),
                        ("first", datetime(2026, 11, 1, 4, 0, tzinfo=UTC)),
                        ("last", datetime(2026, 11, 2, 4, 59, 59, tzinfo=UTC)),
                        ("after", datetime(2026, 11, 2, 5, 0, tzinfo=UTC))):  # fmt: skip
            j.log_event(EventLevel.INFO, "scan", text, t)
    code, out, _ = run(capsys, "--day", "2026-11-01", "--json", "--journal", str(path))
    assert code == 0
    assert [e["text"] for e in json.loads(out)["events"]] == ["first", "last"]
