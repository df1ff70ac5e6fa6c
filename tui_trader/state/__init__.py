"""What the broker layer and the engine share, below both: the reactive store the UI reads
(:mod:`~tui_trader.state.store`), the SQLite journal of order intents, fills and events
(:mod:`~tui_trader.state.journal`) and the reconciliation of that journal with IB's view
(:mod:`~tui_trader.state.reconcile`).

Layers import one way: ``core`` <- ``state`` <- ``broker`` / ``sim`` / ``engine`` <- ``tui``.
The broker writes intents and publishes health into these; the engine wires the broker to
them; neither imports the other's modules through here. Nothing here talks to IB.
"""
