"""Daily bars: the CSV reader (datafiles/bars.py) and the right-aligned Bars container
(core/bars.py) it builds, including SPEC 1's dropped bars and the provisional intraday bar."""

from __future__ import annotations

import io
import os
import threading
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.core.bars import Bars, DroppedBar, DuplicateBarError
from tui_trader.core.indicators import compute_indicators
from tui_trader.datafiles import InputFileError
from tui_trader.datafiles.bars import read_bars_csv

HEADER = "date,symbol,open,high,low,close,volume"
D1, D2, D3, D4 = date(2024, 3, 1), date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)


def _write(tmp_path: Path, *lines: str, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _error(path: Path) -> InputFileError:
    with pytest.raises(InputFileError) as info:
        read_bars_csv(path)
    return info.value


# --- errors name the line -----------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    err = _error(path)
    assert err.line == 1 and "empty" in err.problem
    assert str(err) == f"{path}, line 1: the file is empty; expected a header line."


def test_header_without_rows(tmp_path: Path) -> None:
    err = _error(_write(tmp_path, HEADER))
    assert err.line == 2 and "no bars" in err.problem


def test_missing_column(tmp_path: Path) -> None:
    err = _error(_write(tmp_path, "date,symbol,open,high,low,close", "2024-03-01,A,1,2,1,1.5"))
    assert err.line == 1
    assert err.problem.startswith("the header lacks column(s) volume;")


def test_unknown_file(tmp_path: Path) -> None:
    err = _error(tmp_path / "nope.csv")
    assert err.line is None and "cannot be read" in err.problem


def test_bad_number_names_line_and_column(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        HEADER,
        "2024-03-01,AAA,10,11,9,10.5,1000",
        "",  # a blank line still counts as a line
        "2024-03-04,AAA,10,11,9,10,5,1000",  # a decimal comma: one field too many
    )
    err = _error(path)
    assert err.line == 4 and err.problem == "the row has more fields than the header."
    path = _write(
        tmp_path, HEADER, "2024-03-01,AAA,10,11,9,10.5,1000", "2024-03-04,AAA,10,1l,9,10,1"
    )
    err = _error(path)
    assert err.line == 3 and err.problem == "high value '1l' is not a number."


def test_surplus_field_on_first_row(tmp_path: Path) -> None:
    err = _error(_write(tmp_path, HEADER, "2024-03-01,AAA,10,11,9,10.5,1000,7"))
    assert err.line == 2


def test_bad_and_missing_date_and_symbol(tmp_path: Path) -> None:
    ok = "2024-03-01,AAA,10,11,9,10.5,1000"
    err = _error(_write(tmp_path, HEADER, ok, "03/04/2024,AAA,10,11,9,10.5,1000"))
    assert err.line == 3 and err.problem == "date '03/04/2024' is not a YYYY-MM-DD date."
    err = _error(_write(tmp_path, HEADER, ok, ",AAA,10,11,9,10.5,1000"))
    assert err.line == 3 and err.problem == "the date is missing."
    err = _error(_write(tmp_path, HEADER, ok, "", "2024-03-04, ,10,11,9,10.5,1000"))
    assert err.line == 4 and err.problem == "the symbol is missing."


def test_duplicate_row_names_both_lines(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        HEADER,
        "2024-03-01,AAA,10,11,9,10.5,1000",
        "2024-03-01,BBB,10,11,9,10.5,1000",
        "2024-03-04,AAA,10,11,9,10.5,1000",
        "2024-03-01,AAA,10,11,9,10.6,1000",
    )
    err = _error(path)
    assert err.line == 5
    assert err.problem == "a second bar for AAA on 2024-03-01 (the first is on line 2)."


# --- reading and dropping -------------------------------------------------------------------


def test_any_column_and_row_order_and_right_alignment(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "symbol,volume,close,low,high,open,date,note",
        "BBB,500,20.5,20,21,20.2,2024-03-05,x",
        "AAA,100,10.5,10,11,10.2,2024-03-04,",
        "AAA,110,10.7,10.1,11.1,10.3,2024-03-05,",
        "AAA,90,10.1,9.9,10.9,10.0,2024-03-01,",
    )
    bars = read_bars_csv(path)
    assert bars.symbols == ["AAA", "BBB"]
    np.testing.assert_array_equal(bars.close, [[10.1, 10.5, 10.7], [np.nan, np.nan, 20.5]])
    np.testing.assert_array_equal(bars.volume[0], [90, 100, 110])
    assert bars.last_date("AAA") == bars.last_date("BBB") == D3
    assert list(bars.n_valid) == [3, 1]
    assert bars.dates[1, 0] != bars.dates[1, 0]  # NaT padding
    assert bars.dropped == {}


def test_invalid_bars_are_dropped_and_reported(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        HEADER,
        "2024-03-01,AAA,10,11,9,10.5,1000",
        "2024-03-04,AAA,10,11,9,,1000",  # empty close: NaN
        "2024-03-05,AAA,10,9,11,10,1000",  # high < low
        "2024-03-06,AAA,10,11,9,10.2,1000",
        "2024-03-01,BBB,-1,11,9,10,1000",  # IB's -1 marker
        "2024-03-04,BBB,10,1.7976931348623157e308,9,10,1000",  # IB's "no value"
        "2024-03-05,BBB,10,11,9,10,-5",  # negative volume
        "2024-03-06,BBB,0,11,9,10,1000",  # zero price
        "2024-03-06,CCC,10,11,9,10,0",  # zero volume is a real value
    )
    bars = read_bars_csv(path)
    assert bars.dropped == {
        "AAA": (DroppedBar(D2, "missing_price"), DroppedBar(D3, "high_below_low")),
        "BBB": (
            DroppedBar(D1, "non_positive_price"),
            DroppedBar(D2, "missing_price"),
            DroppedBar(D3, "bad_volume"),
            DroppedBar(D4, "non_positive_price"),
        ),
    }
    np.testing.assert_array_equal(bars.close[bars.index("AAA")], [10.5, 10.2])
    assert bars.n_valid.tolist() == [2, 0, 1]  # BBB kept, empty, so the scan says no_data
    assert bars.last_date("BBB") is None
    assert bars.volume[bars.index("CCC"), -1] == 0.0


def test_asof_cuts_later_bars(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        HEADER,
        "2024-03-01,AAA,10,11,9,10.5,1000",
        "2024-03-04,AAA,10,11,9,10.6,1000",
        "2024-03-05,AAA,10,9,11,10.7,1000",  # invalid, but after asof: not reported
        "2024-03-05,BBB,10,11,9,10,1000",
    )
    bars = read_bars_csv(path, asof=D2)
    assert bars.asof == D2 and bars.latest_date == D2
    np.testing.assert_array_equal(bars.close[0], [10.5, 10.6])
    assert bars.n_valid.tolist() == [2, 0]
    assert bars.dropped == {}


# --- the Bars container ---------------------------------------------------------------------


def _bars(rows: list[tuple[date, str, float, float, float, float, float]]) -> Bars:
    cols = ["date", "symbol", "open", "high", "low", "close", "volume"]
    return Bars.from_frame(pd.DataFrame(rows, columns=cols))


def test_from_frame_rejects_duplicates_and_missing_columns() -> None:
    with pytest.raises(DuplicateBarError, match="AAA on 2024-03-01"):
        _bars([(D1, "AAA", 1, 2, 1, 1.5, 10), (D1, "AAA", 1, 2, 1, 1.6, 10)])
    with pytest.raises(ValueError, match="volume"):
        Bars.from_frame(pd.DataFrame({"date": [D1], "symbol": ["A"]}))


def test_provisional_bar_replaces_or_appends() -> None:
    bars = _bars(
        [
            (D1, "AAA", 10, 11, 9, 10.5, 100),
            (D2, "AAA", 10.5, 11.5, 10, 11, 120),
            (D1, "BBB", 20, 21, 19, 20.5, 200),
            (D2, "BBB", 20.5, 21, 20, 20.8, 210),
            (D2, "CCC", 5, 6, 4, 5.5, 50),  # a partial bar for D2 already
        ]
    )
    # CCC's D2 bar is today's partial bar: extend it; AAA and BBB get a new D3 bar.
    partial = bars.with_provisional(D2, {"CCC": 6.5})
    c = partial.index("CCC")
    assert (partial.high[c, -1], partial.low[c, -1], partial.close[c, -1]) == (6.5, 4.0, 6.5)
    assert partial.open[c, -1] == 5.0 and partial.volume[c, -1] == 50.0
    assert partial.n_days == bars.n_days  # nothing appended

    live = bars.with_provisional(D3, {"AAA": 11.2, "BBB": 0.0, "ZZZ": 1.0}, {"AAA": 40.0})
    a, b = live.index("AAA"), live.index("BBB")
    np.testing.assert_array_equal(live.close[a], [10.5, 11.0, 11.2])
    assert (live.open[a, -1], live.high[a, -1], live.low[a, -1]) == (11.2, 11.2, 11.2)
    assert live.volume[a, -1] == 40.0
    np.testing.assert_array_equal(live.close[b], [np.nan, 20.5, 20.8])  # still aligned
    assert live.last_date("AAA") == D3 and live.last_date("BBB") == D2
    assert live.dropped == {"BBB": (DroppedBar(D3, "non_positive_price"),)}
    assert live.asof == D3 and "ZZZ" not in live
    # Extending the provisional bar again: high/low widen, close follows, no volume -> kept.
    later = live.with_provisional(D3, {"AAA": 10.9})
    assert later.high[a, -1] == 11.2 and later.low[a, -1] == 10.9
    assert later.close[a, -1] == 10.9 and later.volume[a, -1] == 40.0
    # The original is untouched.
    assert bars.close[a, -1] == 11.0


#: Live prices as IB may send them: fine, zero, negative, NaN, inf, the unset marker.
_LIVE = st.one_of(
    st.floats(min_value=0.01, max_value=500.0),
    st.sampled_from([0.0, -1.0, float("nan"), float("inf"), 1.7976931348623157e308]),
)
_VOLUME = st.one_of(
    st.floats(min_value=0.0, max_value=1e7),
    st.sampled_from([-5.0, float("nan"), float("inf"), 1.7976931348623157e308]),
)


@settings(max_examples=60, deadline=None)
@given(
    quotes=st.dictionaries(st.sampled_from(["AAA", "BBB", "CCC", "DDD", "ZZZ"]), _LIVE),
    volumes=st.dictionaries(st.sampled_from(["AAA", "BBB", "CCC", "DDD"]), _VOLUME),
)
def test_one_batch_of_live_prices_is_each_symbol_applied_alone(
    quotes: dict[str, float], volumes: dict[str, float]
) -> None:
    """Money path (SPEC 1's provisional bar): the batch is validated in one numpy pass;
    each symbol's bar, and each refusal, must be what that symbol alone would give."""
    bars = _bars(
        [
            (D1, "AAA", 10, 11, 9, 10.5, 100),
            (D2, "AAA", 10.5, 11.5, 10, 11, 120),
            (D2, "BBB", 20.5, 21, 20, 20.8, 210),
            (D3, "CCC", 5, 6, 4, 5.5, 50),  # a partial bar for D3 already: extended
            (D1, "DDD", 7, 8, 6, 7.5, 70),
        ]
    )
    batch = bars.with_provisional(D3, quotes, volumes)
    for sym in ("AAA", "BBB", "CCC", "DDD"):
        alone = bars.with_provisional(
            D3,
            {sym: quotes[sym]} if sym in quotes else {},
            {sym: volumes[sym]} if sym in volumes else {},
        )
        assert batch.dropped.get(sym) == alone.dropped.get(sym)
        i, j = batch.index(sym), alone.index(sym)
        assert batch.last_date(sym) == alone.last_date(sym)
        for name in ("open", "high", "low", "close", "volume"):
            got, want = getattr(batch, name)[i], getattr(alone, name)[j]
            np.testing.assert_array_equal(got[~np.isnan(got)], want[~np.isnan(want)])
    assert "ZZZ" not in batch and batch.asof == D3


def test_provisional_without_volume_is_nan_not_guessed() -> None:
    bars = _bars([(D1, "AAA", 10, 11, 9, 10.5, 100)])
    live = bars.with_provisional(D2, {"AAA": float("nan")})
    assert live.dropped == {"AAA": (DroppedBar(D2, "missing_price"),)}
    live = bars.with_provisional(D2, {"AAA": 10.7})
    assert np.isnan(live.volume[0, -1]) and live.close[0, -1] == 10.7


def test_provisional_older_than_last_bar_is_refused() -> None:
    bars = _bars([(D2, "AAA", 10, 11, 9, 10.5, 100)])
    with pytest.raises(ValueError, match="older than its latest bar"):
        bars.with_provisional(D1, {"AAA": 10.0})


def test_shuffled_larger_file_round_trips(tmp_path: Path) -> None:
    """400 symbols x 250 days in random row order come back in place, to the digit."""
    rng = np.random.default_rng(1)
    days = pd.bdate_range("2023-01-02", periods=250).strftime("%Y-%m-%d")
    n = 400
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (n, 250)), axis=1)).round(4)
    frame = pd.DataFrame(
        {
            "date": np.tile(days, n),
            "symbol": np.repeat([f"S{i:03d}" for i in range(n)], 250),
            "open": close.ravel(),
            "high": (close * 1.01).ravel(),
            "low": (close * 0.99).ravel(),
            "close": close.ravel(),
            "volume": 1e6,
        }
    ).sample(frac=1.0, random_state=3)  # any row order
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    bars = read_bars_csv(path)
    assert bars.close.shape == (n, 250)
    np.testing.assert_allclose(bars.close, close)


def _arrays(close: list[list[float]]) -> dict[str, np.ndarray]:
    c = np.asarray(close, dtype=np.float64)
    days = np.datetime64("2024-03-01") + np.arange(c.shape[1])
    dates = np.where(np.isnan(c), np.datetime64("NaT"), days[None, :]).astype("datetime64[D]")
    return {"dates": dates, "open": c, "high": c + 1, "low": c - 1, "close": c, "volume": c * 10}


def test_constructor_checks_the_alignment_convention() -> None:
    ok = _arrays([[np.nan, 10.0, 11.0], [9.0, 9.5, 9.8]])
    bars = Bars(symbols=["A", "B"], **ok)
    assert bars.first_valid.tolist() == [1, 0] and bars.volume_hole.tolist() == [3, 3]
    gap = _arrays([[10.0, np.nan, 11.0]])  # NaN between two bars: not right-aligned
    with pytest.raises(ValueError, match="right-aligned"):
        Bars(symbols=["A"], **gap)
    bad = _arrays([[10.0, 10.5, 11.0]])
    bad["low"] = bad["low"].copy()
    bad["low"][0, 1] = 12.0  # low above high
    with pytest.raises(ValueError, match="below"):
        Bars(symbols=["A"], **bad)
    marker = _arrays([[10.0, 10.5, 11.0]])
    marker["close"] = marker["close"].copy()
    marker["close"][0, 0] = 1.7976931348623157e308
    with pytest.raises(ValueError, match="close"):
        Bars(symbols=["A"], **marker)
    negative_volume = _arrays([[10.0, 10.5, 11.0]])
    negative_volume["volume"][0, 2] = -1.0
    with pytest.raises(ValueError, match="volume"):
        Bars(symbols=["A"], **negative_volume)
    with pytest.raises(ValueError, match="unique"):
        Bars(symbols=["A", "A"], **ok)


def test_provisional_without_volume_leaves_prices_intact() -> None:
    rng = np.random.default_rng(8)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, 40)))
    rows = [
        (date(2024, 1, 1) + timedelta(days=k), "AAA", c, c * 1.01, c * 0.99, c, 1e6)
        for k, c in enumerate(close)
    ]
    bars = _bars(rows)
    today = date(2024, 1, 1) + timedelta(days=40)
    live = bars.with_provisional(today, {"AAA": float(close[-1] * 1.02)})
    assert live.volume_hole.tolist() == [40]
    ind = compute_indicators(live)
    assert np.isnan(ind.avgvol20[0, -1]) and ind.avgvol20[0, -2] == 1e6
    assert not np.isnan(ind.rsi14[0, -1]) and not np.isnan(ind.atr14[0, -1])
    assert ind.close[0, -1] == pytest.approx(close[-1] * 1.02)


def test_header_spaces_and_repeats(tmp_path: Path) -> None:
    bars = read_bars_csv(
        _write(tmp_path, "date , symbol,open,high,low,close,volume", "2024-03-01,A,1,2,1,1.5,9")
    )
    assert bars.symbols == ["A"] and bars.close[0, -1] == 1.5
    err = _error(_write(tmp_path, HEADER + ",close", "2024-03-01,A,1,2,1,1.5,9,1.6"))
    assert err.line == 1 and err.problem == "the header repeats column(s) close."


def test_bad_number_late_in_a_larger_file(tmp_path: Path) -> None:
    rows = [f"2024-03-01,S{i:05d},10,11,9,10.5,1000" for i in range(20_000)]
    rows[17_345] = "2024-03-01,BAD,10,11,9,1O.5,1000"  # letter O for zero
    err = _error(_write(tmp_path, HEADER, *rows))
    assert err.line == 17_347 and err.problem == "close value '1O.5' is not a number."


# --- pipes and standard input (issue 14 defect 5) ------------------------------------------


def _many_symbols(n: int = 1_000, days: int = 5) -> bytes:
    """``n`` symbols x ``days`` bars, about 50 bytes a row: far more than one 8 KB read."""
    lines = [HEADER]
    for k in range(n):
        for d in range(days):
            price = 20 + k % 97 + d / 10
            lines.append(
                f"2024-03-{d + 1:02d},S{k:04d},{price},{price + 1},{price - 1},{price},1e6"
            )
    return ("\n".join(lines) + "\n").encode()


def _feed_fifo(tmp_path: Path, data: bytes) -> tuple[Path, threading.Thread]:
    fifo = tmp_path / "bars.pipe"
    os.mkfifo(fifo)

    def write() -> None:
        with fifo.open("wb") as fh:
            fh.write(data)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return fifo, writer


def test_a_pipe_is_read_once_and_loses_no_rows(tmp_path: Path) -> None:
    data = _many_symbols()
    path = tmp_path / "bars.csv"
    path.write_bytes(data)
    fifo, writer = _feed_fifo(tmp_path, data)
    piped = read_bars_csv(fifo)
    writer.join(5)
    direct = read_bars_csv(path)
    assert len(direct.symbols) == 1_000
    assert list(piped.symbols) == list(direct.symbols)
    np.testing.assert_array_equal(piped.close, direct.close)


def test_dash_reads_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _many_symbols(n=300)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    bars = read_bars_csv("-")
    assert len(bars.symbols) == 300
    assert bars.close[7, -1] == pytest.approx(20 + 7 + 0.4)


def test_error_in_standard_input_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    data = f"{HEADER}\n2024-03-01,A,1,2,1,1.5,100\n2024-03-04,A,1,x,1,1.5,100\n".encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    with pytest.raises(InputFileError) as info:
        read_bars_csv("-")
    assert str(info.value) == "standard input, line 3: high value 'x' is not a number."


def test_errors_found_on_a_second_look_still_name_the_line_from_a_pipe(tmp_path: Path) -> None:
    """The slow searches for a bad number or a long row used to reopen the file."""
    rows = [f"2024-03-01,S{k:04d},1,2,1,1.5,100" for k in range(2_000)]
    for bad, problem in (
        ("2024-03-01,BAD,1,2,1,1.5,1x0", "volume value '1x0'"),
        ("2024-03-01,BAD,1,2,1,1.5,100,9", "more fields than the header"),
    ):
        data = ("\n".join([HEADER, *rows, bad]) + "\n").encode()
        sub = tmp_path / problem[:6]
        sub.mkdir()
        fifo, writer = _feed_fifo(sub, data)
        with pytest.raises(InputFileError) as info:
            read_bars_csv(fifo)
        writer.join(5)
        assert info.value.line == 2_002 and problem in info.value.problem
