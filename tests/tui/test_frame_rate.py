"""The dashboard's frame grid (tui/frame_rate.py): 120 frames a second unless the user
set ``TEXTUAL_FPS``."""

from __future__ import annotations

import pytest
from textual import screen as textual_screen

import tui_trader.tui.app  # noqa: F401  (importing the app sets the grid)
from tui_trader.tui.frame_rate import FRAME_RATE, use_frame_rate


def period() -> float:
    return float(textual_screen.UPDATE_PERIOD)


def test_the_app_draws_on_a_120_per_second_grid() -> None:
    assert FRAME_RATE == 120
    assert period() == pytest.approx(1 / 120)


def test_a_users_textual_fps_stands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(textual_screen, "UPDATE_PERIOD", 1 / 30)
    assert not use_frame_rate(environ={"TEXTUAL_FPS": "30"})
    assert period() == pytest.approx(1 / 30)
    assert use_frame_rate(environ={})
    assert period() == pytest.approx(1 / 120)


async def test_a_screen_takes_the_period_for_its_update_timer() -> None:
    from textual.app import App

    app = App[None]()
    async with app.run_test(size=(20, 5)):
        timer = app.screen._update_timer
        assert timer._interval == pytest.approx(1 / 120)
