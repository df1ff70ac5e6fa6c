"""The alert channels: ``[alerts] urls`` turned into apprise services, checked at start,
shown masked, and the only code that calls apprise (which writes every client: email,
Slack, Telegram, SMS gateways, webhooks...).

Decisions:

- **Secrets from the environment**: ``${NAME}`` anywhere in a URL is replaced by the
  environment variable ``NAME``, inserted as it is (so it must be written as the URL needs
  it, e.g. percent-encoded). A variable that is not set is a configuration error.
- **Refused at start**: a URL apprise cannot parse (after expansion) is a
  :class:`AlertConfigError` naming the channel; the CLI exits 2 with that sentence.
  apprise's own log lines during the check are silenced: they would print the URL.
- **Never logged, never shown**: every secret a channel holds (the values of its
  variables, the URL's password, the whole URL) is masked in apprise's log records by a
  filter on its logger; our own log lines name channels, never URLs. ``config --show``
  prints :func:`display_url`: apprise's privacy form of the URL (passwords and tokens
  masked), with each variable's value shown as its ``${NAME}``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tui_trader.core.alerts import Severity, env_refs, expand_refs
from tui_trader.core.settings import AlertSettings, Settings

MASK = "****"
#: apprise's notification type per severity (it picks icons and colours by it).
_NOTIFY_TYPE = {
    Severity.INFO: "info",
    Severity.WARNING: "warning",
    Severity.HIGH: "failure",
    Severity.CRITICAL: "failure",
}


class AlertConfigError(Exception):
    """An ``[alerts]`` setting that cannot work; ``str()`` is the sentence for the user."""


@dataclass(frozen=True, slots=True)
class Channel:
    """One named channel: its apprise service (one URL) and the secrets it holds."""

    name: str
    service: Any
    secrets: tuple[str, ...]


class _Redact(logging.Filter):
    """Masks known secrets in every record of apprise's logger (module doc)."""

    def __init__(self) -> None:
        super().__init__("apprise")
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        text = record.getMessage()
        masked = redact(text, self.secrets)
        if masked != text:
            record.msg, record.args = masked, None
        return True


_REDACT = _Redact()


def redact(text: str, secrets: set[str] | tuple[str, ...]) -> str:
    """``text`` with every secret (longest first) and its URL-encoded form masked."""
    for secret in sorted(secrets, key=len, reverse=True):
        for form in {secret, quote(secret, safe="")}:
            if form:
                text = text.replace(form, MASK)
    return text


def protect(secrets: tuple[str, ...]) -> None:
    """Mask ``secrets`` in apprise's log records from now on (idempotent)."""
    log = logging.getLogger("apprise")
    if _REDACT not in log.filters:
        log.addFilter(_REDACT)
    _REDACT.secrets.update(s for s in secrets if s)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """apprise says nothing meanwhile (its parse errors quote the whole URL)."""
    log = logging.getLogger("apprise")
    was = log.disabled
    log.disabled = True
    try:
        yield
    finally:
        log.disabled = was


def _expanded(name: str, raw: str, env: Mapping[str, str]) -> str:
    try:
        return expand_refs(raw, env)
    except KeyError as exc:
        raise AlertConfigError(
            f"[alerts] urls.{name}: the environment variable {exc.args[0]} it refers to is not set"
        ) from None


def _scheme(url: str) -> str:
    head, sep, _ = url.partition("://")
    return head if sep and head.isidentifier() else ""


def _instantiate(url: str) -> Any:
    import apprise

    with _quiet():
        try:
            return apprise.Apprise.instantiate(url)
        except Exception:
            return None


def build_channels(
    alerts: AlertSettings, env: Mapping[str, str] | None = None
) -> dict[str, Channel]:
    """Every ``[alerts] urls`` channel as an apprise service (module doc); raises
    :class:`AlertConfigError` naming the first channel that cannot work."""
    import apprise

    env = os.environ if env is None else env
    channels: dict[str, Channel] = {}
    for name, raw in alerts.urls.items():
        url = _expanded(name, raw, env)
        plugin = _instantiate(url)
        if plugin is None:
            scheme = _scheme(url)
            what = f"a {scheme}:// URL" if scheme else "a URL (no scheme://)"
            raise AlertConfigError(
                f"[alerts] urls.{name}: apprise cannot parse this URL ({what}); see "
                "apprise's list of services for the form it takes"
            )
        secrets = [env[n] for n in env_refs(raw)]
        secrets += [str(getattr(plugin, "password", "") or ""), url]
        service = apprise.Apprise()
        service.add(plugin)
        channels[name] = Channel(name, service, tuple(s for s in secrets if s))
        protect(channels[name].secrets)
    return channels


def display_url(raw: str, env: Mapping[str, str] | None = None) -> str:
    """The URL as ``config --show`` prints it (module doc); ``scheme://****`` when it
    cannot be parsed or a variable is not set."""
    env = os.environ if env is None else env
    try:
        url = expand_refs(raw, env)
    except KeyError:
        scheme = _scheme(raw)
        return f"{scheme}://{MASK}" if scheme else MASK
    scheme = _scheme(url)
    plugin = _instantiate(url)
    if plugin is None:
        return f"{scheme}://{MASK}" if scheme else MASK
    shown = str(plugin.url(privacy=True))
    refs = env_refs(raw)
    for name in sorted(refs, key=lambda n: len(env[n]), reverse=True):
        value = env[name]
        for form in {value, quote(value, safe="")}:
            if len(form) >= 3:
                shown = shown.replace(form, "${" + name + "}")
    return redact(shown, tuple(s for s in (str(getattr(plugin, "password", "") or ""),) if s))


def deliver(channel: Channel, title: str, body: str, severity: Severity) -> bool:
    """Send one message on ``channel`` (blocking: call it in a worker thread); True when
    apprise reports it delivered."""
    try:
        result = channel.service.notify(body=body, title=title, notify_type=_NOTIFY_TYPE[severity])
    except Exception as exc:  # a plugin bug must not kill the sender
        logging.getLogger("apprise").warning(
            "sending on %s raised %s", channel.name, type(exc).__name__
        )
        return False
    return bool(result)


def masked_settings(settings: Settings, env: Mapping[str, str] | None = None) -> Settings:
    """``settings`` with every ``[alerts] urls`` value replaced by its :func:`display_url`:
    what ``config --show`` prints, so a secret never reaches the screen."""
    alerts = settings.alerts
    shown = {name: display_url(raw, env) for name, raw in alerts.urls.items()}
    return settings.model_copy(update={"alerts": alerts.model_copy(update={"urls": shown})})
