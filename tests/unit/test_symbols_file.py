"""Issue 12 (b): ``[universe] symbols_file``: a plain list or a CSV with a symbol column,
UTF-8 with or without a BOM; a bad file is exit 2 with one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.config import ConfigError, load_settings
from tui_trader.datafiles import InputFileError
from tui_trader.datafiles.symbols import parse_symbols

SP500_HEAD = (
    "Symbol,Security,GICS Sector,GICS Sub-Industry,Headquarters Location\n"
    'MMM,3M,Industrials,Industrial Conglomerates,"Saint Paul, Minnesota"\n'
    'AOS,A. O. Smith,Industrials,Building Products,"Milwaukee, Wisconsin"\n'
    'ABT,Abbott Laboratories,Health Care,Health Care Equipment,"North Chicago, Illinois"\n'
    'BRK.B,Berkshire Hathaway,Financials,Multi-Sector Holdings,"Omaha, Nebraska"\n'
)


def config_for(tmp_path: Path, content: bytes | str, extra: str = "") -> Path:
    symbols = tmp_path / "universe.txt"
    symbols.write_bytes(content.encode() if isinstance(content, str) else content)
    config = tmp_path / "config.toml"
    config.write_text(f'[universe]\nsymbols_file = "{symbols}"\n{extra}')
    return config


def test_a_plain_list_with_comments_blank_lines_a_header_and_a_bom(tmp_path: Path) -> None:
    text = "\ufeffsymbol\n# my watch list\n spy \n\nqqq\r\nAAPL\n"
    settings = load_settings(config_for(tmp_path, text), env={})
    assert settings.universe.symbols == ["SPY", "QQQ", "AAPL"]


def test_an_sp500_csv_export_reads_its_symbol_column(tmp_path: Path) -> None:
    settings = load_settings(config_for(tmp_path, "\ufeff" + SP500_HEAD), env={})
    assert settings.universe.symbols == ["MMM", "AOS", "ABT", "BRK.B"]
    assert parse_symbols("f", "name,Ticker\nApple,aapl\nMicrosoft,MSFT\n") == ["AAPL", "MSFT"]


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("SPY\nQQQ\nspy\n", "line 3: SPY is listed twice (first on line 1)"),
        ("SPY\nBRK B\n", "line 2: symbol 'BRK B' has a character other than"),
        ("Name,Sector\nApple,Tech\n", "line 1: the header has no symbol column"),
        ("Symbol,Name\nAAPL,Apple\n,Blank\n", "line 3: the symbol is missing"),
        ("# nothing here\n\n", "lists no symbol"),
        (b"SPY\n\xff\xfeQQQ\n", "is not UTF-8 text (byte 4)"),
    ],
)
def test_a_bad_file_is_one_sentence_naming_file_and_line(
    tmp_path: Path, content: bytes | str, said: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(config_for(tmp_path, content), env={})
    text = str(exc.value)
    assert text.startswith(f"[universe] symbols_file {tmp_path / 'universe.txt'}")
    assert said in text and "\n" not in text


def test_a_missing_file_and_both_keys_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[universe]\nsymbols_file = "nowhere.txt"\n')
    with pytest.raises(ConfigError, match=r"nowhere.txt: cannot be read \(No such file"):
        load_settings(config, env={})
    both = config_for(tmp_path, "SPY\n", 'symbols = ["QQQ"]\n')
    with pytest.raises(ConfigError, match="sets both symbols and symbols_file: keep one"):
        load_settings(both, env={})
    with pytest.raises(InputFileError):
        parse_symbols("f", "")


def test_the_cli_exits_2_with_one_line_and_shows_the_files_symbols(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = config_for(tmp_path, "spy\nqqq\n")
    assert main(["config", "--show", "--config", str(good)]) == 0
    assert 'symbols = [\n    "SPY",\n    "QQQ",\n]' in capsys.readouterr().out
    bad = config_for(tmp_path, "SPY\nSPY\n")
    assert main(["config", "--show", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "listed twice" in err and "Traceback" not in err
