"""Loading traders' own strategies (issue 15) and keeping their faults contained.

``core`` evaluates user strategies but never imports a module or touches ``sys.path``;
this module does, once, for whoever needs them (the engine's scanner, the back-test, the
``strategy check`` command):

- **Where modules come from.** ``[strategies.NAME] function = "module:attr"`` is imported
  with the *user strategies folder* (``strategies/`` in the user config dir, e.g.
  ``~/.config/tui-trader/strategies`` on Linux) on the import path, appended, so an
  installed package is never shadowed by a stray file there; a module that the folder
  holds but that an installed package of the same name shadows is refused by name rather
  than silently replaced. Any installed module works too.
- **Parameters.** When the function's ``params`` argument is annotated with a pydantic
  model, the ``params`` table is validated by it (strictly, as the config file is) at
  load; otherwise the function gets the dict.
- **Faults.** Import errors, a missing or non-callable attribute and invalid parameters
  are :class:`StrategyLoadError`, one sentence (the CLI exits 2). During a session,
  :class:`UserStrategySession` takes each scan's faults, disables the strategy for the
  rest of the session, says so in one line (``on_fault``) and logs the traceback.
- **The scanner's second pass** (:class:`UserScanPass`): after each compiled scan, the
  user strategies run in a worker thread and the complete report goes to the store and
  the auto-trader.
- **The back-test** (:func:`backtest_strategies`, :func:`apply_overrides`): loaded,
  checked for look-ahead on a sample before they are trusted, their parameters swept
  as ``strategies.NAME.KEY``; ``strategy check`` (:func:`check_strategy`) checks every
  prefix.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
import tomllib
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from loguru import logger
from platformdirs import user_config_dir
from pydantic import BaseModel, ValidationError

from tui_trader.config import APP_NAME, ConfigError
from tui_trader.core.bars import Bars
from tui_trader.core.scanner import ScanReport, scan
from tui_trader.core.settings import Settings, StrategiesSettings
from tui_trader.core.user_strategies import (
    BoundStrategy,
    LookAhead,
    StrategyFault,
    StrategyParamsError,
    UserStrategy,
    look_ahead,
    sample_ends,
    signal_arrays,
    symbol_frame,
)
from tui_trader.engine.strategy_pool import StrategyPool

#: The folder, inside the user config dir, whose modules strategies are imported from.
STRATEGIES_FOLDER = "strategies"


class StrategyLoadError(Exception):
    """A user strategy that cannot be used; ``str()`` is the sentence for the user."""


def strategies_dir() -> Path:
    """The user strategies folder (module doc); it need not exist."""
    return Path(user_config_dir(APP_NAME)) / STRATEGIES_FOLDER


def _on_path(directory: Path) -> None:
    entry = str(directory)
    if entry not in sys.path:
        sys.path.append(entry)


def _params_model(fn: Callable[..., Any]) -> type[BaseModel] | None:
    """The pydantic model ``fn``'s second argument is annotated with, if any."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    if len(params) < 2:
        return None
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation that does not resolve: no model declared
        hints = {}
    annotation = hints.get(params[1].name, params[1].annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _takes_two(fn: Callable[..., Any]) -> bool:
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError:
        return False
    except ValueError:  # no signature (a builtin): let the call decide
        return True
    return True


def load_strategy(name: str, ref: str, directory: Path | None = None) -> UserStrategy:
    """Import ``ref`` (``module:attr``) for the strategy ``name`` (module doc)."""
    folder = strategies_dir() if directory is None else directory
    _on_path(folder)
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise StrategyLoadError(
            f"strategy {name}: cannot import module {module_name!r} "
            f"({type(exc).__name__}: {exc}); user modules live in {folder}"
        ) from None
    top = module_name.split(".")[0]
    own = folder / f"{top}.py"
    if (own.is_file() or (folder / top).is_dir()) and not _inside(module, folder):
        raise StrategyLoadError(
            f"strategy {name}: module {top!r} in {folder} is shadowed by an installed "
            f"module of the same name; rename the file"
        )
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise StrategyLoadError(f"strategy {name}: module {module_name!r} has no {attr!r}")
    if not callable(target) or not _takes_two(target):
        raise StrategyLoadError(f"strategy {name}: {ref} must be a function taking (df, params)")
    return UserStrategy(name, target, _params_model(target))


def _inside(module: Any, folder: Path) -> bool:
    file = getattr(module, "__file__", None)
    if file is None:
        return False
    try:
        return Path(file).resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def load_strategies(
    settings: Settings,
    names: Sequence[str] | None = None,
    directory: Path | None = None,
) -> list[UserStrategy]:
    """The user strategies ``names`` (default: every enabled one), in config order,
    imported and with their parameters checked; StrategyLoadError for the first that
    cannot be used."""
    configured = settings.strategies.user
    wanted = settings.strategies.enabled if names is None else list(names)
    out: list[UserStrategy] = []
    for name, config in configured.items():
        if name not in wanted:
            continue
        strategy = load_strategy(name, config.function, directory)
        try:
            strategy.bind(config.params)
        except StrategyParamsError as exc:
            raise StrategyLoadError(str(exc)) from None
        out.append(strategy)
    return out


def bind_all(strategies: Sequence[UserStrategy], settings: Settings) -> list[BoundStrategy]:
    """Each strategy with its ``[strategies.NAME] params`` (StrategyLoadError if invalid)."""
    configured = settings.strategies.user
    out = []
    for s in strategies:
        config = configured.get(s.name)
        try:
            out.append(s.bind(config.params if config is not None else {}))
        except StrategyParamsError as exc:
            raise StrategyLoadError(str(exc)) from None
    return out


# --- overrides from the command line: strategies.NAME.KEY ------------------------------


def with_strategy_overrides(
    settings: Settings, overrides: Mapping[str, str], source: str
) -> Settings:
    """``settings`` with each ``strategies.NAME.KEY=value`` applied: ``function`` and
    ``enabled`` set those keys, any other KEY sets the parameter of that name. Values are
    read as TOML values (text that is none stays text), and the result is validated as
    strictly as the file; ConfigError names ``source`` and the key."""
    section = settings.strategies.model_dump()
    for key, raw in overrides.items():
        parts = key.split(".")
        if len(parts) != 3 or parts[0] != "strategies" or not all(parts):
            raise ConfigError(f"{source}: {key!r} must look like strategies.NAME.param")
        name, field = parts[1].upper(), parts[2]
        if name not in section or not isinstance(section[name], dict):
            known = ", ".join(settings.strategies.user) or "none is configured"
            raise ConfigError(f"{source}: no user strategy {parts[1]!r} ([strategies]: {known})")
        try:
            value: Any = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        if field in ("function", "enabled"):
            section[name][field] = value
        else:
            section[name].setdefault("params", {})[field] = value
    # Only this section is validated again: the rest is unchanged, already valid.
    try:
        strategies = StrategiesSettings.model_validate(section, strict=True)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(["strategies", *(str(p) for p in err["loc"])])
        raise ConfigError(f"{source}: {where}: {err['msg']}") from None
    return settings.model_copy(update={"strategies": strategies})


def is_strategy_key(key: str) -> bool:
    """Whether a ``--set`` / ``--grid`` key addresses a user strategy."""
    return key.startswith("strategies.") and key.count(".") == 2


# --- a session's faults ------------------------------------------------------------------


class UserStrategySession:
    """The user strategies of one session: which still run, and why the others stopped.

    ``on_fault`` gets the one line to show when a strategy is disabled; the traceback goes
    to the log. A disabled strategy stays disabled until the session ends (a restart
    loads it afresh): a function that failed once on live data would fail again, and
    flapping signals are worse than none.
    """

    def __init__(
        self,
        strategies: Sequence[BoundStrategy],
        timeout_s: float,
        on_fault: Callable[[str], None] | None = None,
    ) -> None:
        self._all = list(strategies)
        self.timeout_s = timeout_s
        self._on_fault = on_fault
        #: Disabled strategy -> the reason, in the order they were disabled.
        self.disabled: dict[str, str] = {}

    def active(self) -> list[BoundStrategy]:
        """The strategies still running, in config order."""
        return [s for s in self._all if s.name not in self.disabled]

    def record(self, faults: Sequence[StrategyFault]) -> None:
        """Disable each faulted strategy: one line shown, the traceback logged."""
        for fault in faults:
            if fault.name in self.disabled:
                continue
            line = f"Strategy {fault.name} disabled for this session: {fault.reason}"
            self.disabled[fault.name] = fault.reason
            logger.error("{}\n{}", line, fault.detail)
            if self._on_fault is not None:
                self._on_fault(line)


# --- look-ahead -------------------------------------------------------------------------


def check_bars(
    strategy: BoundStrategy,
    bars: Bars,
    symbols: Sequence[str] | None = None,
    sample: int | None = None,
    max_symbols: int | None = None,
) -> LookAhead | None:
    """The first look-ahead found over ``symbols`` (default: all of ``bars``), checking
    every prefix (``sample`` None) or ``sample`` prefixes ending on days the strategy
    fires (:func:`~tui_trader.core.user_strategies.sample_ends`). ``max_symbols``: stop
    after that many symbols with signals (the back-test's quick check). Exceptions and
    shape errors in the function propagate."""
    rows = [bars.index(s) for s in symbols] if symbols is not None else range(bars.n_symbols)
    checked = 0
    for row in rows:
        if bars.first_valid[row] >= bars.n_days:
            continue
        frame = symbol_frame(bars, row)
        ends: list[int] | None = None
        if sample is not None:
            long, short = signal_arrays(strategy.fn(frame.copy(), strategy.params), frame)
            if not np.any(long | short):
                continue
            ends = sample_ends(long, short, sample)
        found = look_ahead(strategy, frame, bars.symbols[row], ends)
        if found is not None:
            return found
        checked += 1
        if max_symbols is not None and checked >= max_symbols:
            break
    return None


# --- the scanner's second pass ------------------------------------------------------------


class UserScanPass:
    """The user strategies' pass after each built-in scan, in a worker thread.

    Why a second pass and not inside the live scanner: the compiled pass takes
    milliseconds and stays on the event loop, but a trader's pandas code over hundreds of
    symbols takes up to ``[strategies] timeout_s`` each, which on the UI's loop would
    freeze the dashboard. So :meth:`run` re-scans the same bars with the user strategies
    in a thread (:func:`asyncio.to_thread`), which hands the strategies to the worker
    processes of :mod:`tui_trader.engine.strategy_pool` (``[strategies] workers``; 0:
    the thread runs them itself), records faults in the session (disabled, one
    line, traceback logged), and hands the whole report (built-in and user signals,
    CONFLICT decided over all) to ``deliver`` (the store and the auto-trader). One pass
    at a time: a scan that arrives while one runs is skipped (:meth:`busy`); the next
    scan catches up.
    """

    def __init__(
        self,
        session: UserStrategySession,
        settings: Settings,
        deliver: Callable[[ScanReport], None],
        market_caps: Mapping[str, float] | None = None,
    ) -> None:
        self.session = session
        self._settings = settings
        self._deliver = deliver
        self._caps = market_caps
        self._running = False
        #: Passes completed.
        self.passes = 0
        #: The last report delivered (built-in and user signals), None before the first.
        self.last: ScanReport | None = None
        #: The worker processes (``[strategies] workers``; None: the thread alone),
        #: started now so that they are warm by the first scan.
        self.pool: StrategyPool | None = None
        active = session.active()
        if settings.strategies.workers > 0 and active:
            self.pool = StrategyPool(
                settings.strategies.workers,
                paths=[str(strategies_dir())],
                modules=sorted({s.fn.__module__ for s in active}),
            )
            self.pool.start()

    def close(self) -> None:
        """Stop the worker processes (the engine's stop)."""
        if self.pool is not None:
            self.pool.close()

    @property
    def wanted(self) -> bool:
        """Whether any user strategy still runs (else the built-in report is final)."""
        return bool(self.session.active())

    @property
    def busy(self) -> bool:
        return self._running

    async def run(self, bars: Bars) -> ScanReport | None:
        """Scan ``bars`` with the active user strategies off the loop and deliver the
        report; None when none is active or a pass is already running."""
        active = self.session.active()
        if not active or self._running:
            return None
        self._running = True
        try:
            report = await asyncio.to_thread(self._scan, bars, active)
        finally:
            self._running = False
        self.session.record(report.faults)
        if not self.session.active():
            self.close()  # every strategy disabled: the workers have nothing left to run
        self.passes += 1
        self.last = report
        self._deliver(report)
        return report

    def _scan(self, bars: Bars, active: Sequence[BoundStrategy]) -> ScanReport:
        """The scan with the user strategies, in the worker processes when there are."""
        s = self._settings
        return scan(
            bars,
            s.universe,
            s.strategy,
            self._caps,
            user=active,
            timeout_s=self.session.timeout_s,
            evaluator=self.pool.evaluate if self.pool is not None else None,
        )


def session_from_settings(
    settings: Settings, on_fault: Callable[[str], None] | None = None
) -> UserStrategySession:
    """The enabled user strategies, loaded and bound, as a session (StrategyLoadError when
    one cannot be used: the CLI refuses it at start, so an engine sees it only in tests)."""
    loaded = load_strategies(settings) if settings.strategies.enabled else []
    return UserStrategySession(bind_all(loaded, settings), settings.strategies.timeout_s, on_fault)


def check_strategy(settings: Settings, name: str, bars: Bars) -> tuple[bool, str]:
    """``tui-trader strategy check NAME``: (passed, the sentence to print). Every prefix
    of every symbol's history is checked (not a sample: this is the thorough check the
    trader runs by hand). StrategyLoadError (exit 2) for a name that is not configured or
    cannot be loaded; a function that raises or answers in the wrong shape fails the
    check with that sentence."""
    wanted = name.upper()
    if wanted not in settings.strategies.user:
        known = ", ".join(settings.strategies.user) or "none is configured"
        raise StrategyLoadError(f"no user strategy {name!r} ([strategies]: {known})")
    (strategy,) = load_strategies(settings, [wanted])
    (bound,) = bind_all([strategy], settings)
    try:
        found = check_bars(bound, bars)
    except Exception as exc:  # the trader's code: any error is the check's answer
        logger.opt(exception=True).debug("strategy check of {} failed", wanted)
        return False, f"{wanted} failed: {type(exc).__name__}: {exc}"
    if found is not None:
        return False, found.sentence(wanted)
    days = int((bars.n_days - bars.first_valid).clip(min=0).sum())
    return True, (
        f"{wanted}: no look-ahead ({bars.n_symbols} symbol(s), every prefix of {days} bars)"
    )


# --- the back-test command (SPEC 12 with user strategies) --------------------------------

#: Prefixes per symbol and symbols with signals the back-test's quick look-ahead check
#: runs (the thorough one is ``strategy check``): ~100 calls of the function.
CHECK_SAMPLE = 20
CHECK_SYMBOLS = 5


def apply_overrides(settings: Settings, overrides: Mapping[str, str], source: str) -> Settings:
    """``--set`` / ``--grid`` values: ``section.key`` as :func:`tui_trader.config.
    with_overrides`, ``strategies.NAME.KEY`` as :func:`with_strategy_overrides`."""
    from tui_trader.config import with_overrides

    plain = {k: v for k, v in overrides.items() if not is_strategy_key(k)}
    user = {k: v for k, v in overrides.items() if is_strategy_key(k)}
    out = with_overrides(settings, plain, source) if plain else settings
    return with_strategy_overrides(out, user, source) if user else out


def override_value(settings: Settings, key: str) -> Any:
    """The value ``strategies.NAME.KEY`` has in ``settings`` (None: not set)."""
    _, name, field = key.split(".")
    config = settings.strategies.user[name.upper()]
    if field in ("function", "enabled"):
        return getattr(config, field)
    return config.params.get(field)


def backtest_strategies(
    sets: Sequence[Settings], bars: Bars, names: Sequence[str], directory: Path | None = None
) -> tuple[UserStrategy, ...]:
    """The user strategies among ``names``, loaded, their parameters checked in every set,
    and each checked for look-ahead on a sample (:func:`check_bars`) under every distinct
    parameter set before the back-test trusts it. StrategyLoadError (exit 2) names the
    strategy, and for a look-ahead the day and the symbol."""
    if not sets:
        return ()
    configured = sets[0].strategies.user
    wanted = [n for n in names if n in configured]
    if not wanted:
        return ()
    loaded = load_strategies(sets[0], wanted, directory)
    checked: set[tuple[str, str]] = set()
    for settings in sets:
        for bound in bind_all(loaded, settings):
            key = (bound.name, repr(bound.params))
            if key in checked:
                continue
            checked.add(key)
            try:
                found = check_bars(bound, bars, sample=CHECK_SAMPLE, max_symbols=CHECK_SYMBOLS)
            except Exception as exc:
                raise StrategyLoadError(
                    f"strategy {bound.name} failed its look-ahead check: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
            if found is not None:
                raise StrategyLoadError(
                    f"the back-test refuses {found.sentence(bound.name)}; "
                    f"run tui-trader strategy check {bound.name} --bars FILE"
                )
    return tuple(loaded)
