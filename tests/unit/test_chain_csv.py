"""Option-chain CSV reader (datafiles/chain.py): what it accepts and every refusal."""

from __future__ import annotations

import io
import math
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from tui_trader.core.settings import PricingSettings, SelectionSettings
from tui_trader.core.spreads import select_spreads
from tui_trader.datafiles import InputFileError
from tui_trader.datafiles.chain import read_chain_csv

HEADER = "expiry,strike,right,bid,ask,delta,iv"


def write(tmp_path: Path, text: str, name: str = "chain.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str) -> InputFileError:
    path = write(tmp_path, text)
    with pytest.raises(InputFileError) as info:
        read_chain_csv(path)
    assert info.value.path == str(path)
    return info.value


def test_reads_a_chain_in_chain_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"{HEADER}\n"
        "20250207,110,C,1.00,1.10,0.30,0.23\n"
        "20250207,105,C,2.30,2.50,0.45,0.24\n"
        "20250207,95,P,1.20,1.30,-0.25,0.27\n"
        "20250117,105,c,0.50,0.55,0.35,0.22\n",
    )
    chain = read_chain_csv(path)
    assert len(chain) == 4
    # rows come back sorted by expiry, right (puts first), strike
    assert chain.expiry.astype(str).tolist() == [
        "2025-01-17", "2025-02-07", "2025-02-07", "2025-02-07",
    ]  # fmt: skip
    assert chain.right.tolist() == ["C", "P", "C", "C"]
    assert chain.strike.tolist() == [105.0, 95.0, 105.0, 110.0]
    assert chain.bid.tolist() == [0.50, 1.20, 2.30, 1.00]
    assert chain.ask.tolist() == [0.55, 1.30, 2.50, 1.10]
    assert chain.delta.tolist() == [0.35, -0.25, 0.45, 0.30]
    assert chain.iv.tolist() == [0.22, 0.27, 0.24, 0.23]
    assert chain.con_id.tolist() == [-1, -1, -1, -1]


def test_columns_in_any_order_extras_and_optional_greeks(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "right, iv ,delta,ask,bid,strike,expiry,note,con_id,gamma,vega,theta\n"
        "CALL,0.24,0.45,2.50,2.30,105,20250207,hello,700001,0.05,0.12,-0.03\n"
        "put,0.27,-0.25,1.30,1.20,95.5,20250207,,,,,\n",
    )
    chain = read_chain_csv(path)
    assert chain.right.tolist() == ["P", "C"]
    assert chain.strike.tolist() == [95.5, 105.0]
    assert chain.bid.tolist() == [1.20, 2.30]
    assert chain.con_id.tolist() == [-1, 700001]
    assert math.isnan(chain.gamma[0]) and chain.gamma[1] == 0.05
    assert chain.vega[1] == 0.12 and chain.theta[1] == -0.03


def test_empty_cells_and_markers_are_no_value_not_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"{HEADER}\n"
        "20250207,100,C,,2.10,0.40,0.25\n"  # no bid
        "20250207,105,C,0.50,0.60,,NaN\n"  # no greeks
        "20250207,110,C,-1,1.7976931348623157e308,-2,-1\n"  # IB markers stay as numbers
        "\n"  # blank lines are skipped
        "20250207,115,C, 0.05 , 0.10 , 0.05 , 0.22 \n",  # spaces around numbers
    )
    chain = read_chain_csv(path)
    assert math.isnan(chain.bid[0]) and chain.ask[0] == 2.10
    assert math.isnan(chain.delta[1]) and math.isnan(chain.iv[1])
    assert chain.bid[2] == -1.0 and chain.ask[2] == 1.7976931348623157e308
    assert chain.delta[2] == -2.0 and chain.iv[2] == -1.0
    assert chain.bid[3] == 0.05
    # ... and the selector turns them into reasons, not crashes:
    # 100/105 BAD_QUOTE (long bid), 100/110 BAD_QUOTE, 100/115 BAD_QUOTE,
    # 105/110 BAD_QUOTE (short leg markers), 105/115 NO_GREEKS, 110/115 BAD_QUOTE.
    sel = select_spreads(
        chain, 100.0, "LONG", date(2025, 1, 2), SelectionSettings(), PricingSettings()
    )
    assert sel.candidates == 6
    assert sel.rejected["BAD_QUOTE"] == 5
    assert sel.rejected["NO_GREEKS"] == 1
    assert len(sel) == 0


def test_byte_order_mark_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(("\ufeff" + HEADER + "\r\n20250207,100,P,1,1.1,-0.4,0.3\r\n").encode())
    chain = read_chain_csv(path)
    assert chain.strike.tolist() == [100.0]
    assert not chain.is_call[0]


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("", 1, "the file is empty"),
        ("\n\n", 1, "must be the header"),
        (f"{HEADER}\n", 2, "no option rows"),
        (f"{HEADER}\n\n\n", 2, "no option rows"),
        ("expiry,strike,right,bid,ask,delta\n20250207,100,C,1,1.1,0.4\n", 1, "lacks column(s) iv"),
        ("expiry,strike,right,bid,bid,ask,delta,iv\n", 1, "repeats column(s) bid"),
        # unparsable numbers
        (f"{HEADER}\n20250207,100,C,abc,1.1,0.4,0.3\n", 2, "bid value 'abc' is not a number"),
        (f"{HEADER}\n20250207,100,C,1,1.1,0.4,0.3\n20250207,105,C,1,\"1,2\",0.4,0.3\n", 3,
         "ask value '1,2' is not a number"),
        (f"{HEADER}\n20250207,100,C,1,1.1,inf,0.3\n", 2, "delta value 'inf' is not a number"),
        (f"{HEADER}\n20250207,100,C,1,1.1,0.4,1_0\n", 2, "iv value '1_0' is not a number"),
        (f"{HEADER}\n20250207,1O0,C,1,1.1,0.4,0.3\n", 2, "strike value '1O0' is not a number"),
        (f"{HEADER}\n20250207,,C,1,1.1,0.4,0.3\n", 2, "the strike is missing"),
        (f"{HEADER}\n20250207,0,C,1,1.1,0.4,0.3\n", 2, "strike 0 is not a positive price"),
        (f"{HEADER}\n20250207,-5,C,1,1.1,0.4,0.3\n", 2, "strike -5 is not a positive price"),
        # bad right
        (f"{HEADER}\n20250207,100,X,1,1.1,0.4,0.3\n", 2, "right 'X' is not C or P"),
        (f"{HEADER}\n20250207,100,,1,1.1,0.4,0.3\n", 2, "right '' is not C or P"),
        # bad dates
        (f"{HEADER}\n2025-02-07,100,C,1,1.1,0.4,0.3\n", 2, "expiry '2025-02-07' is not a YYYYMMDD"),
        (f"{HEADER}\n20250230,100,C,1,1.1,0.4,0.3\n", 2, "expiry '20250230' is not a YYYYMMDD"),
        (f"{HEADER}\n202502,100,C,1,1.1,0.4,0.3\n", 2, "expiry '202502' is not a YYYYMMDD"),
        (f"{HEADER}\n,100,C,1,1.1,0.4,0.3\n", 2, "the expiry is missing"),
        # shape
        (f"{HEADER}\n20250207,100,C,1,1.1,0.4\n", 2, "the row has 6 fields, the header has 7"),
        (f"{HEADER}\n20250207,100,C,1,1.1,0.4,0.3,9\n", 2, "the row has 8 fields"),
        # duplicate contract, after a blank line (line numbers stay editor lines)
        (f"{HEADER}\n20250207,100,C,1,1.1,0.4,0.3\n\n20250207,100.0,C,1,1.1,0.4,0.3\n", 4,
         "a second call for expiry 20250207 strike 100 (the first is on line 2)"),
        ("expiry,strike,right,bid,ask,delta,iv,con_id\n20250207,100,C,1,1.1,0.4,0.3,7.5\n", 2,
         "con_id value '7.5' is not a whole number"),
    ],
)  # fmt: skip
def test_refusals_name_the_line(tmp_path: Path, text: str, line: int, problem: str) -> None:
    error = refused(tmp_path, text)
    assert error.line == line
    assert problem in error.problem
    assert str(error).startswith(f"{error.path}, line {line}: ")


def test_same_strike_in_other_right_or_expiry_is_not_a_duplicate(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"{HEADER}\n20250207,100,C,1,1.1,0.4,0.3\n20250207,100,P,1,1.1,-0.6,0.3\n"
        "20250214,100,C,1,1.1,0.4,0.3\n",
    )
    assert len(read_chain_csv(path)) == 3


def test_missing_file_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="cannot be read") as info:
        read_chain_csv(tmp_path / "nope.csv")
    assert info.value.line is None
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "\n20250207,100,C,1,1.1,0.4,0.3 \xe9\n").encode("latin-1"))
    with pytest.raises(InputFileError, match="not UTF-8"):
        read_chain_csv(path)


def test_reads_a_larger_chain_round_trip(tmp_path: Path) -> None:
    strikes = np.arange(50, 151, 2.5)
    lines = [HEADER]
    for expiry in ("20250207", "20250314"):
        for k in strikes:
            cents = int(k * 2)  # bid = 2 % of the strike, in whole cents; ask 5 cents higher
            for right in ("C", "P"):
                lines.append(
                    f"{expiry},{k:g},{right},{cents / 100:.2f},{(cents + 5) / 100:.2f},0.3,0.25"
                )
    chain = read_chain_csv(write(tmp_path, "\n".join(lines) + "\n"))
    assert len(chain) == 2 * 2 * len(strikes)
    np.testing.assert_allclose(chain.bid, chain.strike * 0.02, rtol=1e-12)
    np.testing.assert_allclose(chain.ask - chain.bid, 0.05, atol=1e-9)


def test_dash_reads_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    data = ("\ufeff" + HEADER + "\r\n20250207,100,P,1,1.1,-0.4,0.3\r\n").encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    chain = read_chain_csv("-")
    assert chain.strike.tolist() == [100.0] and not chain.is_call[0]
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(f"{HEADER}\n".encode())))
    with pytest.raises(InputFileError) as info:
        read_chain_csv("-")
    assert str(info.value) == "standard input, line 2: the file has a header but no option rows."


def test_non_utf8_names_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "\n20250207,100,C,1,1.1,0.4,0.3 \xe9\n").encode("latin-1"))
    with pytest.raises(InputFileError) as info:
        read_chain_csv(path)
    assert info.value.problem == f"is not UTF-8 text (byte {len(HEADER) + 30})."
