"""Rebuilding optimizers and schedules from the dicts their ``config()``
returns, as checkpoints store them."""

from __future__ import annotations


def build_from_config(registry, config, what):
    """Build ``registry[config["name"]](**rest of config)``.

    Parameters
    ----------
    registry : dict of name → class
    config : dict with a ``name`` entry
    what : str
        "optimizer" or "schedule", for the messages.

    Raises
    ------
    ValueError
        For an unknown name or an argument the class does not take.
    """
    config = dict(config)
    name = config.pop("name", None)
    kind = registry.get(name)
    if kind is None:
        choices = ", ".join(registry)
        raise ValueError(f"unknown {what} {name!r}; expected one of: {choices}")
    try:
        return kind(**config)
    except TypeError as error:
        raise ValueError(f"bad settings for the {name} {what}: {error}") from None
