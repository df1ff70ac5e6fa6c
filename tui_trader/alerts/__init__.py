"""SPEC 13's alerts: apprise channels, the journaled outbox, the background sender and the
watcher that turns the engine's state into alerts (:class:`~tui_trader.alerts.center.AlertCenter`
ties them together for the engine)."""
