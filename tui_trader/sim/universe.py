"""The simulated market's static ticker table: names, sectors, sizes, price levels, vols.

Numbers are believable late-2026 magnitudes, not quotes: ``price`` is where the generated
history ends (within a few percent), ``vol`` is the long-run annualised volatility the
stochastic-volatility model reverts to, ``avg_volume`` is typical shares per day.
Every name carries a known market cap so the universe filter (SPEC 3) passes all 60; for
ETFs the "market cap" is assets under management, which is what IB's fundamental data
shows for them. The option-strike style (``index_strikes``) marks the ETFs whose options
list $1 strikes at any price and trade in pennies, as SPY/QQQ/IWM/DIA/GLD do.

A bigger universe (``gateway --universe N``, N up to ``MAX_UNIVERSE``) adds generated
names after the table's 60 (:func:`universe_symbols`): believable tickers, company names,
sectors, market caps (lognormal around $35 B, as the S&P 500's, so some fall below the
$10 B filter), prices, volumes (a daily turnover of the cap) and volatilities. They come
from a fixed seed (``UNIVERSE_SEED``), not the market's: the list, and so a symbols file
written for it, is the same for every ``--seed``; the seed moves their prices.

Symbols outside the table and the generated list still work: they get deterministic
made-up data derived from the symbol (flagged by ``synthetic``), so a user's config with an
unusual ticker never breaks the demo.

conIds are a pure function of the symbol (CRC32 folded into 8 digits), never of the seed
or of the symbol list, so a persisted account refers to the same contracts after a
restart with any configuration.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tui_trader.core.settings import DEFAULT_SYMBOLS


@dataclass(frozen=True, slots=True)
class TickerInfo:
    """Static facts about one simulated ticker."""

    symbol: str
    long_name: str
    sector: str
    industry: str
    primary_exchange: str
    market_cap: float  # USD; AUM for ETFs
    avg_volume: float  # shares per day
    price: float  # level the history ends near
    vol: float  # long-run annualised volatility
    is_etf: bool = False
    index_strikes: bool = False  # $1 strikes and penny option ticks at every price
    synthetic: bool = False  # not in the table: made-up data
    market_corr: float = 0.45  # correlation of daily shocks with the common market factor


_B = 1e9
_M = 1e6

_ETF, _IDX = "ETF", "Exchange Traded Fund"
_TECH, _FIN, _HC = "Technology", "Financial Services", "Healthcare"
_COMM, _CYC, _DEF = "Communication Services", "Consumer Cyclical", "Consumer Defensive"
_EN, _IND = "Energy", "Industrials"
_NQ, _NY, _AR = "NASDAQ", "NYSE", "ARCA"


def _etf(sym: str, name: str, exch: str, aum: float, vol_m: float, px: float, vol: float,
         index: bool = False, corr: float = 0.6) -> TickerInfo:  # fmt: skip
    return TickerInfo(sym, name, _ETF, _IDX, exch, aum, vol_m * _M, px, vol, True, index,
                      market_corr=corr)  # fmt: skip


def _stk(sym: str, name: str, sector: str, industry: str, exch: str, cap: float,
         vol_m: float, px: float, vol: float) -> TickerInfo:  # fmt: skip
    return TickerInfo(sym, name, sector, industry, exch, cap, vol_m * _M, px, vol)


# fmt: off
_TABLE: tuple[TickerInfo, ...] = (
    _etf("SPY", "SPDR S&P 500 ETF Trust", _AR, 650 * _B, 70, 600.0, 0.15, True, 0.95),
    _etf("QQQ", "Invesco QQQ Trust Series 1", _NQ, 380 * _B, 45, 520.0, 0.2, True, 0.9),
    _etf("IWM", "iShares Russell 2000 ETF", _AR, 70 * _B, 35, 235.0, 0.22, True, 0.8),
    _etf("DIA", "SPDR Dow Jones Industrial Average ETF Trust", _AR, 38 * _B, 3.5, 465.0,
         0.14, True, 0.9),
    _etf("XLF", "Financial Select Sector SPDR Fund", _AR, 52 * _B, 40, 53.0, 0.18),
    _etf("XLE", "Energy Select Sector SPDR Fund", _AR, 27 * _B, 15, 90.0, 0.24),
    _etf("XLK", "Technology Select Sector SPDR Fund", _AR, 90 * _B, 7, 280.0, 0.22),
    _etf("XLV", "Health Care Select Sector SPDR Fund", _AR, 36 * _B, 9, 145.0, 0.15),
    _etf("GLD", "SPDR Gold Shares", _AR, 130 * _B, 10, 375.0, 0.18, True, 0.1),
    _etf("TLT", "iShares 20+ Year Treasury Bond ETF", _NQ, 50 * _B, 35, 90.0, 0.14, False, 0.1),
    _stk("AAPL", "Apple Inc", _TECH, "Consumer Electronics", _NQ, 3500 * _B, 55, 230.0, 0.27),
    _stk("MSFT", "Microsoft Corp", _TECH, "Software - Infrastructure", _NQ, 3600 * _B, 22, 480.0,
         0.24),
    _stk("NVDA", "NVIDIA Corp", _TECH, "Semiconductors", _NQ, 4400 * _B, 200, 180.0, 0.45),
    _stk("AMZN", "Amazon.com Inc", _CYC, "Internet Retail", _NQ, 2400 * _B, 45, 225.0, 0.32),
    _stk("GOOGL", "Alphabet Inc Class A", _COMM, "Internet Content & Information", _NQ, 2900 * _B,
         35, 240.0, 0.3),
    _stk("META", "Meta Platforms Inc Class A", _COMM, "Internet Content & Information", _NQ,
         1800 * _B, 15, 700.0, 0.36),
    _stk("TSLA", "Tesla Inc", _CYC, "Auto Manufacturers", _NQ, 1300 * _B, 100, 400.0, 0.55),
    _stk("AVGO", "Broadcom Inc", _TECH, "Semiconductors", _NQ, 1600 * _B, 25, 340.0, 0.42),
    _stk("AMD", "Advanced Micro Devices Inc", _TECH, "Semiconductors", _NQ, 300 * _B, 50, 190.0,
         0.5),
    _stk("NFLX", "Netflix Inc", _COMM, "Entertainment", _NQ, 480 * _B, 35, 112.0, 0.35),
    _stk("ADBE", "Adobe Inc", _TECH, "Software - Application", _NQ, 150 * _B, 3.5, 350.0, 0.33),
    _stk("CRM", "Salesforce Inc", _TECH, "Software - Application", _NY, 240 * _B, 7, 250.0, 0.33),
    _stk("ORCL", "Oracle Corp", _TECH, "Software - Infrastructure", _NY, 650 * _B, 20, 230.0, 0.45),
    _stk("INTC", "Intel Corp", _TECH, "Semiconductors", _NQ, 160 * _B, 90, 36.0, 0.5),
    _stk("CSCO", "Cisco Systems Inc", _TECH, "Communication Equipment", _NQ, 280 * _B, 20, 70.0,
         0.22),
    _stk("QCOM", "Qualcomm Inc", _TECH, "Semiconductors", _NQ, 180 * _B, 8, 165.0, 0.33),
    _stk("TXN", "Texas Instruments Inc", _TECH, "Semiconductors", _NQ, 160 * _B, 6, 175.0, 0.3),
    _stk("MU", "Micron Technology Inc", _TECH, "Semiconductors", _NQ, 250 * _B, 25, 220.0, 0.55),
    _stk("IBM", "International Business Machines Corp", _TECH, "Information Technology Services",
         _NY, 280 * _B, 4.5, 300.0, 0.25),
    _stk("UBER", "Uber Technologies Inc", _TECH, "Software - Application", _NY, 190 * _B, 18, 90.0,
         0.38),
    _stk("JPM", "JPMorgan Chase & Co", _FIN, "Banks - Diversified", _NY, 850 * _B, 9, 310.0, 0.22),
    _stk("BAC", "Bank of America Corp", _FIN, "Banks - Diversified", _NY, 380 * _B, 38, 52.0, 0.25),
    _stk("WFC", "Wells Fargo & Co", _FIN, "Banks - Diversified", _NY, 270 * _B, 16, 85.0, 0.27),
    _stk("GS", "Goldman Sachs Group Inc", _FIN, "Capital Markets", _NY, 240 * _B, 2.5, 780.0, 0.28),
    _stk("MS", "Morgan Stanley", _FIN, "Capital Markets", _NY, 260 * _B, 6, 160.0, 0.27),
    _stk("C", "Citigroup Inc", _FIN, "Banks - Diversified", _NY, 180 * _B, 14, 100.0, 0.28),
    _stk("V", "Visa Inc Class A", _FIN, "Credit Services", _NY, 650 * _B, 7, 340.0, 0.2),
    _stk("MA", "Mastercard Inc Class A", _FIN, "Credit Services", _NY, 520 * _B, 3, 570.0, 0.2),
    _stk("PYPL", "PayPal Holdings Inc", _FIN, "Credit Services", _NQ, 65 * _B, 14, 65.0, 0.35),
    _stk("AXP", "American Express Co", _FIN, "Credit Services", _NY, 250 * _B, 3, 360.0, 0.26),
    _stk("UNH", "UnitedHealth Group Inc", _HC, "Healthcare Plans", _NY, 300 * _B, 10, 330.0, 0.35),
    _stk("JNJ", "Johnson & Johnson", _HC, "Drug Manufacturers - General", _NY, 460 * _B, 8, 190.0,
         0.16),
    _stk("PFE", "Pfizer Inc", _HC, "Drug Manufacturers - General", _NY, 145 * _B, 40, 25.5, 0.24),
    _stk("MRK", "Merck & Co Inc", _HC, "Drug Manufacturers - General", _NY, 240 * _B, 12, 95.0,
         0.25),
    _stk("ABBV", "AbbVie Inc", _HC, "Drug Manufacturers - General", _NY, 400 * _B, 6, 225.0, 0.24),
    _stk("LLY", "Eli Lilly and Co", _HC, "Drug Manufacturers - General", _NY, 900 * _B, 4, 950.0,
         0.32),
    _stk("XOM", "Exxon Mobil Corp", _EN, "Oil & Gas Integrated", _NY, 490 * _B, 15, 115.0, 0.22),
    _stk("CVX", "Chevron Corp", _EN, "Oil & Gas Integrated", _NY, 300 * _B, 8, 155.0, 0.23),
    _stk("COP", "ConocoPhillips", _EN, "Oil & Gas E&P", _NY, 115 * _B, 7, 92.0, 0.28),
    _stk("SLB", "SLB NV", _EN, "Oil & Gas Equipment & Services", _NY, 52 * _B, 12, 36.0, 0.33),
    _stk("WMT", "Walmart Inc", _DEF, "Discount Stores", _NQ, 830 * _B, 17, 105.0, 0.2),
    _stk("COST", "Costco Wholesale Corp", _DEF, "Discount Stores", _NQ, 400 * _B, 2.2, 900.0, 0.21),
    _stk("HD", "Home Depot Inc", _CYC, "Home Improvement Retail", _NY, 380 * _B, 3.5, 380.0, 0.22),
    _stk("LOW", "Lowe's Companies Inc", _CYC, "Home Improvement Retail", _NY, 135 * _B, 2.8, 240.0,
         0.24),
    _stk("NKE", "Nike Inc Class B", _CYC, "Footwear & Accessories", _NY, 95 * _B, 12, 65.0, 0.33),
    _stk("MCD", "McDonald's Corp", _CYC, "Restaurants", _NY, 215 * _B, 3.3, 300.0, 0.17),
    _stk("SBUX", "Starbucks Corp", _CYC, "Restaurants", _NQ, 97 * _B, 9, 85.0, 0.3),
    _stk("DIS", "Walt Disney Co", _COMM, "Entertainment", _NY, 200 * _B, 9, 112.0, 0.27),
    _stk("BA", "Boeing Co", _IND, "Aerospace & Defense", _NY, 160 * _B, 8, 210.0, 0.35),
    _stk("CAT", "Caterpillar Inc", _IND, "Farm & Heavy Construction Machinery", _NY, 270 * _B, 3,
         570.0, 0.3),
)
# fmt: on

TICKERS: dict[str, TickerInfo] = {t.symbol: t for t in _TABLE}

#: Position of each table symbol: the "symbol code" inside option conIds (see chains).
TABLE_ORDER: tuple[str, ...] = tuple(t.symbol for t in _TABLE)

assert set(DEFAULT_SYMBOLS) <= set(TICKERS), "every default symbol needs a table row"

#: The table's market caps as a ``[universe] market_caps_file`` (``symbol,market_cap,name``),
#: shipped so the demo applies SPEC 3's market-cap filter the way a trader's own file would
#: (tests/unit/test_market_caps.py keeps it equal to the table).
MARKET_CAPS_CSV = Path(__file__).with_name("market_caps.csv")


#: The largest ``--universe``: the table plus generated names (the option conId scheme
#: holds 1,020 names).
MAX_UNIVERSE = 1000
#: The generated names' seed (module doc): fixed, so the list never depends on ``--seed``.
UNIVERSE_SEED = 20_261_118

# Generated sectors: (sector, weight, long-run vol, industries, name suffixes).
_GEN_SECTORS: tuple[tuple[str, float, float, tuple[str, ...], tuple[str, ...]], ...] = (
    (_TECH, 0.15, 0.38, ("Software - Application", "Semiconductors", "IT Services"),
     ("Systems", "Software", "Technologies", "Semiconductor", "Networks")),
    (_FIN, 0.13, 0.26, ("Banks - Regional", "Insurance - Diversified", "Asset Management"),
     ("Financial", "Bancorp", "Capital", "Insurance Group", "Partners")),
    (_HC, 0.12, 0.30, ("Medical Devices", "Biotechnology", "Healthcare Plans"),
     ("Therapeutics", "Health", "Medical", "Biosciences", "Pharmaceuticals")),
    (_IND, 0.15, 0.28, ("Aerospace & Defense", "Specialty Industrial Machinery", "Railroads"),
     ("Industries", "Aerospace", "Machinery", "Logistics", "Manufacturing")),
    (_CYC, 0.10, 0.33, ("Specialty Retail", "Restaurants", "Auto Parts"),
     ("Brands", "Retail", "Motors", "Restaurants", "Apparel")),
    (_DEF, 0.07, 0.20, ("Packaged Foods", "Household & Personal Products", "Beverages"),
     ("Foods", "Consumer Products", "Beverage", "Household")),
    (_EN, 0.05, 0.34, ("Oil & Gas E&P", "Oil & Gas Midstream"),
     ("Energy", "Petroleum", "Resources", "Pipeline")),
    (_COMM, 0.05, 0.32, ("Telecom Services", "Entertainment", "Advertising Agencies"),
     ("Communications", "Media", "Entertainment", "Interactive")),
    ("Utilities", 0.06, 0.19, ("Utilities - Regulated Electric", "Utilities - Diversified"),
     ("Power", "Electric", "Utilities", "Energy Services")),
    ("Real Estate", 0.06, 0.25, ("REIT - Industrial", "REIT - Residential", "REIT - Retail"),
     ("Realty", "Properties", "Residential", "REIT")),
    ("Basic Materials", 0.06, 0.31, ("Specialty Chemicals", "Steel", "Building Materials"),
     ("Chemicals", "Materials", "Steel", "Minerals")),
)  # fmt: skip
_GEN_WORDS: tuple[str, ...] = (
    "Apex", "Harbor", "Summit", "Cobalt", "Granite", "Meridian", "Northfield", "Pinnacle",
    "Redwood", "Silverline", "Vertex", "Atlas", "Beacon", "Crescent", "Evergreen",
    "Frontier", "Keystone", "Liberty", "Orion", "Sterling", "Cascade", "Ironwood",
    "Lakeshore", "Prairie", "Quantum", "Riverside", "Sentinel", "Tidewater", "Union",
    "Westbrook", "Aurora", "Bluestone", "Clearwater", "Delta", "Eastgate", "Fairmont",
    "Highland", "Juniper", "Kingsbridge", "Lighthouse", "Magnolia", "Newport", "Oakmont",
    "Pioneer", "Ridgeline", "Stonegate", "Trident", "Valley", "Whitfield", "Zenith",
)  # fmt: skip


def universe_symbols(n: int) -> tuple[str, ...]:
    """The first ``n`` names of the simulated universe: the table's rows (the default 60,
    in order), then generated names (module doc). ValueError outside 1..MAX_UNIVERSE."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_UNIVERSE:
        raise ValueError(f"the simulated universe holds 1 to {MAX_UNIVERSE} names, not {n!r}")
    names = DEFAULT_SYMBOLS + tuple(info.symbol for info in _generated())
    return names[:n]


@cache
def _generated() -> tuple[TickerInfo, ...]:
    """The generated names after the table, in order (module doc); drawn in one pass."""
    import numpy as np  # here: the CLI's parser imports this module and starts fast

    rng = np.random.default_rng(UNIVERSE_SEED)
    count = MAX_UNIVERSE - len(DEFAULT_SYMBOLS)
    letters = np.array(list("ABCDEFGHIJKLMNOPRSTUVWXYZ"))
    draws = 2 * count  # room for the duplicates and table symbols dropped below
    lengths = rng.choice((2, 3, 4), size=draws, p=(0.1, 0.55, 0.35))
    chars = letters[rng.integers(0, len(letters), size=(draws, 4))]
    taken = set(TICKERS)
    symbols: list[str] = []
    for row, length in zip(chars, lengths, strict=True):
        symbol = "".join(row[:length])
        if symbol not in taken:
            taken.add(symbol)
            symbols.append(symbol)
    symbols = symbols[:count]
    weights = np.array([s[1] for s in _GEN_SECTORS])
    sector_ix = rng.choice(len(_GEN_SECTORS), size=count, p=weights / weights.sum())
    picks = rng.integers(0, 1 << 30, size=(count, 3))
    caps = np.clip(10 ** rng.normal(10.55, 0.42, count), 5.5 * _B, 2500 * _B)
    prices = np.clip(np.exp(rng.normal(np.log(120.0), 0.75, count)), 12.0, 1800.0)
    turnover = np.exp(rng.normal(np.log(0.007), 0.5, count))
    volumes = np.clip(caps * turnover / prices, 0.3 * _M, 120 * _M)
    vol_mult = np.exp(rng.normal(0.0, 0.2, count))
    corr = rng.uniform(0.3, 0.7, count)
    corp = rng.random(count) < 0.5
    nasdaq = rng.random(count) < 0.35
    out: list[TickerInfo] = []
    for i, symbol in enumerate(symbols):
        sector, _, vol, industries, suffixes = _GEN_SECTORS[int(sector_ix[i])]
        word = _GEN_WORDS[int(picks[i, 0]) % len(_GEN_WORDS)]
        suffix = suffixes[int(picks[i, 1]) % len(suffixes)]
        out.append(
            TickerInfo(
                symbol=symbol,
                long_name=f"{word} {suffix} {'Corp' if corp[i] else 'Inc'}",
                sector=sector,
                industry=industries[int(picks[i, 2]) % len(industries)],
                primary_exchange=_NQ if nasdaq[i] else _NY,
                market_cap=round(float(caps[i]), -6),
                avg_volume=round(float(volumes[i]), -3),
                price=round(float(prices[i]), 2),
                vol=round(float(vol * vol_mult[i]), 3),
                market_corr=round(float(corr[i]), 2),
            )
        )
    return tuple(out)


@cache
def _generated_by_symbol() -> dict[str, TickerInfo]:
    return {info.symbol: info for info in _generated()}


def _hash01(text: str, salt: str) -> float:
    return (zlib.crc32(f"{salt}:{text}".encode()) & 0xFFFFFFFF) / 2**32


def ticker_info(symbol: str) -> TickerInfo:
    """The table row or generated name, else deterministic made-up data (module doc)."""
    known = TICKERS.get(symbol) or _generated_by_symbol().get(symbol)
    if known is not None:
        return known
    price = round(20.0 * 10 ** (1.5 * _hash01(symbol, "price")), 2)  # $20 .. $630
    return TickerInfo(
        symbol=symbol,
        long_name=f"{symbol} Holdings Inc",
        sector="Unknown",
        industry="Unknown",
        primary_exchange=_NY if _hash01(symbol, "exch") < 0.5 else _NQ,
        market_cap=(20 + 480 * _hash01(symbol, "cap")) * _B,
        avg_volume=(2 + 18 * _hash01(symbol, "volume")) * _M,
        price=price,
        vol=0.22 + 0.25 * _hash01(symbol, "vol"),
        synthetic=True,
    )


def stock_con_id(symbol: str) -> int:
    """The stock's conId: stable for a symbol across runs, seeds and configurations."""
    return 10_000_000 + zlib.crc32(f"STK:{symbol}".encode()) % 90_000_000
