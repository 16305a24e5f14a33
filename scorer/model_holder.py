"""The model the scorer serves: loaded off the event loop, validated, swapped between batches.

The registry alias is the source of truth. A reload event, ``POST /reload`` and the periodic check
all do the same thing: resolve ``champion`` now and load that version if it differs from the one in
use. So a stale or out-of-order event, or one naming a version that does not exist, can never move
the scorer backwards or to an unvalidated model; it at most causes a no-op check. Refreshes are
serialised by a lock. A version refused for a lasting reason (digest, features, predictions,
corrupt files) is not downloaded again; an unreachable store or missing alias is retried. A failed
load keeps the model in use and is returned as an outcome for the caller to report.

The swap is one reference assignment: a batch reads :attr:`ModelHolder.champion` once and
scores all of its rows with that model, so a swap always falls between two batches.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fraudcore.models import CHALLENGER, CHAMPION, LoadedModel, ModelLoadError, ModelLoadFailure
from scorer.model_source import ModelSource

__all__ = ["ModelHolder", "RefreshOutcome"]

_TRANSIENT = frozenset({ModelLoadFailure.STORE_UNAVAILABLE, ModelLoadFailure.NOT_FOUND})


@dataclass(frozen=True)
class RefreshOutcome:
    """What a refresh did: ``swapped`` to ``version``, found it ``unchanged``, or failed."""

    alias: str
    version: str | None
    """The version the alias named (the one attempted, when the load failed)."""
    previous_version: str | None
    swapped: bool
    error: ModelLoadError | None = None

    @property
    def failed(self) -> bool:
        """Whether the alias named a version that could not be loaded (or was unreachable)."""
        return self.error is not None


class ModelHolder:
    """Holds the champion (and optionally the challenger) of one registered model."""

    def __init__(self, source: ModelSource, *, hold_challenger: bool = False) -> None:
        self.source = source
        self.model_name = source.model_name
        self.hold_challenger = hold_challenger
        self._models: dict[str, LoadedModel] = {}
        self._lock = asyncio.Lock()
        self._refused: dict[str, ModelLoadError] = {}
        self.last_outcome: dict[str, RefreshOutcome] = {}

    @property
    def champion(self) -> LoadedModel:
        """The model every verdict is scored with; raises before :meth:`start` succeeded."""
        try:
            return self._models[CHAMPION]
        except KeyError:
            raise RuntimeError("no champion loaded yet") from None

    @property
    def challenger(self) -> LoadedModel | None:
        """The challenger (for shadow scoring or a canary), when held and one exists."""
        return self._models.get(CHALLENGER)

    @property
    def aliases(self) -> tuple[str, ...]:
        """The aliases this holder keeps loaded."""
        return (CHAMPION, CHALLENGER) if self.hold_challenger else (CHAMPION,)

    def install(self, alias: str, model: LoadedModel) -> None:
        """Serve an already loaded and validated model (e.g. loaded before the event loop ran)."""
        self._models[alias] = model
        self._remember(RefreshOutcome(alias, model.version, None, swapped=True))

    async def start(self) -> LoadedModel:
        """Load the champion (and the challenger, if held); raise :class:`ModelLoadError` if the
        champion cannot be served."""
        outcome = await self.refresh(CHAMPION)
        if outcome.error is not None:
            raise outcome.error
        if self.hold_challenger:
            await self.refresh(CHALLENGER)
        return self.champion

    async def refresh_all(self) -> list[RefreshOutcome]:
        """Refresh every alias held (the periodic check and reload events)."""
        return [await self.refresh(alias) for alias in self.aliases]

    async def refresh(self, alias: str) -> RefreshOutcome:
        """Load the version ``alias`` names now, unless it is the one in use."""
        async with self._lock:
            current = self._models.get(alias)
            previous = current.version if current else None
            version: str | None = None
            try:
                version = await asyncio.to_thread(self.source.resolve, alias)
                if version is None:
                    if alias == CHALLENGER:
                        self._models.pop(alias, None)
                        return self._remember(RefreshOutcome(alias, None, previous, swapped=current is not None))
                    raise ModelLoadError(
                        ModelLoadFailure.NOT_FOUND,
                        f"model {self.model_name!r} has no {alias!r} alias; train and promote one first "
                        "(`fraudstream demo` or `fraudstream train` registers a champion)",
                    )
                if current is not None and current.version == version:
                    return self._remember(RefreshOutcome(alias, version, previous, swapped=False))
                if version in self._refused:  # refused for a reason that a retry cannot change
                    raise self._refused[version]
                loaded = await asyncio.to_thread(self.source.load, version)
            except ModelLoadError as error:
                if version is not None and error.reason not in _TRANSIENT:
                    self._refused[version] = error
                return self._remember(RefreshOutcome(alias, version, previous, swapped=False, error=error))
            self._models[alias] = loaded
            return self._remember(RefreshOutcome(alias, loaded.version, previous, swapped=True))

    def _remember(self, outcome: RefreshOutcome) -> RefreshOutcome:
        self.last_outcome[outcome.alias] = outcome
        return outcome
