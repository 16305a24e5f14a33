"""Command-line options that override settings (each names the variable it replaces)."""

from __future__ import annotations

from fraudcore.settings import Settings

__all__ = ["with_overrides"]


def with_overrides(settings: Settings, **values: object) -> Settings:
    """``settings`` with the given fields replaced (``None`` = not given), validated again.

    Raises :class:`pydantic.ValidationError` on an invalid value; the CLI turns it into a message.
    """
    given = {name: value for name, value in values.items() if value is not None}
    return Settings.model_validate(settings.model_dump() | given) if given else settings
