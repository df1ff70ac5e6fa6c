"""The engine: the asyncio tasks that drive scanning, trading and exits, wired to the
broker layer and to the shared state (:mod:`tui_trader.state`: store, journal,
reconciliation). Imports ``core``, ``state`` and ``broker``, never Textual."""
