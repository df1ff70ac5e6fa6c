"""The broker: the only package that imports ib_insync (session, chains, orders, account).

``lines``, ``health`` and ``pacing`` are pure decision logic with an injected clock; they
never import ib_insync, so every rule they hold is unit-tested without a socket.
"""
