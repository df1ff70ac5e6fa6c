"""Reusable dashboard widgets: the health footer, diffing tables, the payoff plot."""
