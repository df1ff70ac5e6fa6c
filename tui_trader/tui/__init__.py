"""The Textual dashboard: screens and widgets over the engine's store (see ``app``)."""

from tui_trader.tui.app import TraderApp, create_app

__all__ = ["TraderApp", "create_app"]
