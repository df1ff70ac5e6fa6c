"""Remapping the dashboard's keys from config (``[ui] keys``: binding id -> keys).

Every binding of the app and its screens has an ``id`` (listed on the Help screen); the
config maps ids to one key or comma-separated keys, e.g. ``transmit = "T"`` or
``kill_switch = "ctrl+k,f12"``, and Textual's keymap (``App.set_keymap``) applies it.

Decisions:

- **An unknown id is an error at start** (:class:`KeymapError`, one sentence naming the id
  and the valid ones), not silently ignored: a trader who remapped ``transmit`` and
  mistyped it would otherwise press a key that does nothing, or worse, the old one.
- **An empty key list is an error** too: it would leave an action (e.g. the kill switch)
  without any key.
- The Help screen and the command palette show the *effective* keys
  (:func:`effective_bindings`), so what is listed is what works.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from textual.binding import Binding, BindingType
from textual.keys import _normalize_key_list


class KeymapError(ValueError):
    """``[ui] keys`` names an unknown binding id or maps one to no key (one sentence)."""


def binding_ids(groups: Iterable[Sequence[BindingType]]) -> set[str]:
    """Every binding id of ``groups`` (each a BINDINGS list)."""
    return {b.id for group in groups for b in Binding.make_bindings(group) if b.id}


def validate_keymap(keys: Mapping[str, str], known: set[str]) -> dict[str, str]:
    """The keymap in Textual's normalised form (``?`` -> ``question_mark``, spaces
    stripped); :class:`KeymapError` for an unknown id or an empty key list."""
    unknown = sorted(set(keys) - known)
    if unknown:
        raise KeymapError(
            f"unknown key binding id{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(u) for u in unknown)} in [ui] keys; valid ids: "
            f"{', '.join(sorted(known))}"
        )
    out: dict[str, str] = {}
    for binding_id, value in keys.items():
        normalised = _normalize_key_list(value)
        if not all(normalised.split(",")):
            raise KeymapError(
                f"[ui] keys: {binding_id!r} = {value!r} has an empty key; give one key or "
                "several separated by commas"
            )
        out[binding_id] = normalised
    return out


def effective_bindings(bindings: Sequence[BindingType], keymap: Mapping[str, str]) -> list[Binding]:
    """``bindings`` with the keymap applied: a remapped binding once per configured key
    (its key display dropped, so the new key is shown, not the default's label)."""
    out: list[Binding] = []
    for b in Binding.make_bindings(bindings):
        keys = keymap.get(b.id) if b.id else None
        if not keys:
            out.append(b)
            continue
        out.extend(replace(b, key=key, key_display=None) for key in keys.split(","))
    return out
