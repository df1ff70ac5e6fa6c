"""``[universe] market_caps_file``: the CSV reader, the CLI's exit 2, the shipped demo file.

SPEC 3: market cap >= ``min_market_cap`` (10e9) when known; unknown is eligible, flagged.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_cli import run, write_bars
from tui_trader.core.settings import DEFAULT_SYMBOLS, Settings, UniverseSettings
from tui_trader.datafiles import InputFileError
from tui_trader.datafiles.market_caps import (
    CONFIG_KEY,
    read_market_caps_csv,
    universe_market_caps,
)
from tui_trader.engine.runtime import demo_settings
from tui_trader.sim.universe import MARKET_CAPS_CSV, TICKERS

BOM = b"\xef\xbb\xbf"


def write_config(tmp_path: Path, caps_file: Path | str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(f'[universe]\nmarket_caps_file = "{caps_file}"\n')
    return config


# --- the reader ----------------------------------------------------------------------------


def test_reads_caps_in_dollars_any_column_order_extra_columns_ignored(tmp_path: Path) -> None:
    path = tmp_path / "caps.csv"
    path.write_text(
        " Name , Market_Cap ,Symbol\n"
        "Apple,3.5e12,aapl\n"
        "\n"  # blank lines are skipped
        "Small Co,9990000000,SMOL\n"
        "Nobody Knows,,UNK\n"  # empty cell: not known
    )
    assert read_market_caps_csv(path) == {"AAPL": 3.5e12, "SMOL": 9.99e9}


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(BOM + b"symbol,market_cap\r\nMSFT,3600000000000\r\nIBM,2.1e11\r\n")
    assert read_market_caps_csv(path) == {"MSFT": 3.6e12, "IBM": 2.1e11}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("symbol,market_cap\nSPY,6.5e11\nAAPL,abc\n",
         "line 3: the market cap of AAPL, 'abc', is not a number in dollars."),
        ("symbol,market_cap\nAAPL,3.5T\n",
         "line 2: the market cap of AAPL, '3.5T', is not a number in dollars."),
        ("symbol,market_cap\nAAPL,\"3,5\"\n",
         "line 2: the market cap of AAPL, '3,5', is not a number in dollars."),
        ("symbol,market_cap\nAAPL,inf\n",
         "line 2: the market cap of AAPL, 'inf', is not a number in dollars."),
        ("symbol,market_cap\nAAPL,0\n",
         "line 2: the market cap of AAPL, 0, is not a positive amount."),
        ("symbol,market_cap\nAAPL,-5e9\n",
         "line 2: the market cap of AAPL, -5e9, is not a positive amount."),
        ("symbol,market_cap\nAAPL,1e12\n\nMSFT,1e12\naapl,2e12\n",
         "line 5: AAPL is listed twice (first on line 2)."),
        ("symbol,market_cap\nBRK B,1e12\n",
         "line 2: symbol 'BRK B' has a character other than letters, digits, '.', '-' and '/'."),
        ("symbol,market_cap\n,1e12\n", "line 2: the symbol is missing."),
        ("symbol,market_cap,name\nAAPL\n", "line 2: the row has 1 field(s); the header has more."),
        ("ticker,cap\nAAPL,1e12\n",
         "line 1: the header has no symbol or market_cap column (got 'ticker,cap')."),
        ("AAPL,3.5e12\nMSFT,3.6e12\n",
         "line 1: the header has no symbol or market_cap column (got 'AAPL,3.5e12')."),
        ("\nsymbol,market_cap\n",
         "line 1: the first line must be the header naming the columns symbol and market_cap."),
        ("", "the file is empty; expected the header symbol,market_cap."),
    ],
)  # fmt: skip
def test_a_bad_file_is_one_sentence_naming_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "caps.csv"
    path.write_text(text)
    with pytest.raises(InputFileError) as info:
        read_market_caps_csv(path)
    where = f"market caps file {path}"
    expected = f"{where}, {message}" if message.startswith("line ") else f"{where}: {message}"
    assert str(info.value) == expected


def test_not_utf8_names_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("symbol,market_cap\nNESTL\xc9,3e11\n".encode("latin-1"))
    with pytest.raises(InputFileError, match=r"is not UTF-8 text \(byte 23\)"):
        read_market_caps_csv(path)


def test_the_setting_names_the_key_and_empty_means_no_file(tmp_path: Path) -> None:
    assert universe_market_caps(UniverseSettings()) is None
    missing = tmp_path / "missing.csv"
    with pytest.raises(InputFileError) as info:
        universe_market_caps(UniverseSettings(market_caps_file=str(missing)))
    assert str(info.value) == (
        f"{CONFIG_KEY} {missing}: cannot be read (No such file or directory)."
    )
    with pytest.raises(InputFileError, match="not standard input"):
        universe_market_caps(UniverseSettings(market_caps_file="-"))


# --- the filter through the CLI ------------------------------------------------------------


def scan_rows(
    tmp_path: Path, caps: str, capsys: pytest.CaptureFixture[str]
) -> dict[str, dict[str, Any]]:
    bars = tmp_path / "bars.csv"
    write_bars(bars)  # UP ($100+, 5M shares), CHEAP (under $20), SHORTY (30 bars)
    caps_file = tmp_path / "caps.csv"
    caps_file.write_bytes(BOM + caps.encode())
    config = write_config(tmp_path, caps_file)
    code, out, err = run(["scan", "--config", str(config), "--bars", str(bars), "--all",
                          "--json"], capsys)  # fmt: skip
    assert code == 0, err
    return {r["symbol"]: r for r in json.loads(out)["results"]}


def test_a_cap_below_the_minimum_makes_the_symbol_ineligible(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = scan_rows(tmp_path, "symbol,market_cap\nUP,9990000000\nCHEAP,2e12\n", capsys)
    assert rows["UP"]["eligible"] is False  # 9.99e9 < SPEC 3's 10e9
    assert rows["UP"]["reasons"] == ["market_cap_below_min"]
    assert rows["CHEAP"]["reasons"] == ["price_below_min"]  # known cap: no flag
    assert "market_cap_unknown" in rows["SHORTY"]["reasons"]  # not in the file: flagged


def test_a_cap_at_the_minimum_passes_unflagged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = scan_rows(tmp_path, "symbol,market_cap\nUP,10000000000\n", capsys)
    assert rows["UP"]["eligible"] is True and rows["UP"]["reasons"] == []


@pytest.mark.parametrize("argv", [["run", "--headless", "--auto"], [], ["scan", "--bars", "x"]])
def test_a_bad_caps_file_exits_2_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    caps_file = tmp_path / "caps.csv"
    caps_file.write_text("symbol,market_cap\nSPY,6.5e11\nAAPL,abc\n")
    config = write_config(tmp_path, caps_file)
    code, out, err = run(["--config", str(config), *argv], capsys)
    assert code == 2 and out == ""
    assert err == (
        f"tui-trader: {CONFIG_KEY} {caps_file}, line 3: the market cap of AAPL, 'abc', "
        "is not a number in dollars.\n"
    )


# --- the simulated names' file, shipped for the demo ----------------------------------------


def test_the_shipped_file_holds_the_simulated_caps() -> None:
    caps = read_market_caps_csv(MARKET_CAPS_CSV)
    assert caps == {s: TICKERS[s].market_cap for s in DEFAULT_SYMBOLS}
    assert caps["AAPL"] == 3.5e12 and min(caps.values()) >= 10e9  # all 60 pass SPEC 3
    with MARKET_CAPS_CSV.open(newline="") as f:
        assert next(csv.reader(f)) == ["symbol", "market_cap", "name"]


def test_the_demo_uses_the_shipped_file_unless_the_user_names_one(tmp_path: Path) -> None:
    demo = demo_settings(Settings(), port=4321)
    assert demo.universe.market_caps_file == str(MARKET_CAPS_CSV)
    assert demo.connection.port == 4321
    own = tmp_path / "mine.csv"
    mine = Settings.model_validate({"universe": {"market_caps_file": str(own)}})
    assert demo_settings(mine, port=4321).universe.market_caps_file == str(own)
