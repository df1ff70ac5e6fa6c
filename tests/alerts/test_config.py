"""``[alerts]`` at start (exit 2 with one sentence), secrets masked in ``config --show``,
and ``alert-test`` against real loopback servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.alerts.conftest import SmtpServer, Webhook
from tui_trader.alerts.channels import build_channels, display_url
from tui_trader.cli import main
from tui_trader.core.settings import AlertSettings


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return str(path)


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1  # one sentence, no traceback
    return err


def test_url_apprise_cannot_parse_is_refused_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, '[alerts]\nurls = {pager = "nosuchservice://tok3nS3cret@x"}\n')
    assert main(["run", "--headless", "--config", cfg]) == 2
    err = _err(capsys)
    assert "urls.pager: apprise cannot parse this URL (a nosuchservice:// URL)" in err
    assert "tok3nS3cret" not in err


def test_route_naming_unknown_channel_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(
        tmp_path,
        '[alerts]\nurls = {email = "mailto://127.0.0.1:2525?from=a@b.com&to=c@d.com"}\n'
        '[alerts.routes]\nhigh = ["email", "slack"]\n',
    )
    assert main(["alert-test", "--config", cfg]) == 2
    err = _err(capsys)
    assert "route high names the channel 'slack'" in err
    assert "(defined: email)" in err


def test_unset_environment_variable_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TT_TEST_HOOK_TOKEN", raising=False)
    cfg = _config(tmp_path, '[alerts]\nurls = {hook = "json://127.0.0.1/${TT_TEST_HOOK_TOKEN}"}\n')
    assert main(["run", "--headless", "--config", cfg]) == 2
    assert "environment variable TT_TEST_HOOK_TOKEN it refers to is not set" in _err(capsys)


def test_default_routes_skip_channels_not_defined() -> None:
    alerts = AlertSettings.model_validate({"urls": {"slack": "slack://T1/B2/C3"}})
    assert alerts.channels_for("info") == ()
    assert alerts.channels_for("warning") == ("slack",)
    assert alerts.channels_for("critical") == ("slack",)


def test_config_show_masks_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TT_TEST_SMTP_PW", "hunter2pass")
    cfg = _config(
        tmp_path,
        '[alerts]\nurls = { email = "mailtos://bot:${TT_TEST_SMTP_PW}@smtp.example.com'
        '?to=me@example.com", hook = "json://user:w3bh00kpw@127.0.0.1:9/hook" }\n',
    )
    assert main(["config", "--show", "--config", cfg]) == 0
    out = capsys.readouterr().out
    assert "hunter2pass" not in out and "w3bh00kpw" not in out
    assert "json://user:****@127.0.0.1:9/hook" in out
    assert "mailtos://bot:" in out


def test_display_url_shows_variable_names_not_values() -> None:
    env = {"TT_TOKEN": "abcdef123456"}
    shown = display_url("json://127.0.0.1:9/${TT_TOKEN}", env)
    assert "abcdef123456" not in shown
    assert "${TT_TOKEN}" in shown


def test_secrets_are_masked_in_apprise_log(caplog: pytest.LogCaptureFixture) -> None:
    alerts = AlertSettings.model_validate(
        {"urls": {"hook": "json://user:l0gS3cret@127.0.0.1:1/hook"}}
    )
    channels = build_channels(alerts)
    with caplog.at_level("DEBUG", logger="apprise"):
        channels["hook"].service.notify(title="t", body="b")  # refused: apprise logs it
    assert caplog.records
    assert "l0gS3cret" not in caplog.text


def test_alert_test_sends_on_each_channel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], smtp: SmtpServer, webhook: Webhook
) -> None:
    cfg = _config(tmp_path, f'[alerts]\nurls = {{email = "{smtp.url}", hook = "{webhook.url}"}}\n')
    assert main(["alert-test", "--config", cfg]) == 0
    assert capsys.readouterr().out == "email: sent\nhook: sent\n"
    assert smtp.subjects() == ["[PAPER] tui-trader test alert"]
    assert webhook.titles() == ["[PAPER] tui-trader test alert"]

    webhook.stop()
    assert main(["alert-test", "--channel", "hook", "--config", cfg]) == 1
    assert capsys.readouterr().out.startswith("hook: FAILED")
    assert len(smtp.mailbox.messages) == 1  # --channel: only that one

    assert main(["alert-test", "--channel", "sms", "--config", cfg]) == 2
    assert "no alert channel named 'sms' (defined: email, hook)" in _err(capsys)


def test_config_show_output_loads_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, '[alerts]\nurls = {hook = "json://127.0.0.1:9/hook"}\n')
    assert main(["config", "--show", "--config", cfg]) == 0
    shown = _config(tmp_path, capsys.readouterr().out)  # default routes written out
    assert main(["config", "--show", "--config", shown]) == 0
    alerts = AlertSettings.model_validate(
        {"urls": {"hook": "json://127.0.0.1:9/hook"},
         "routes": {"high": ["email", "slack", "sms"]}}
    )  # fmt: skip
    assert alerts.channels_for("high") == ()  # the default, written: undefined ones skipped
