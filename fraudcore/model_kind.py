"""The estimators the trainer can fit (one list, shared by settings, the CLI and the trainer)."""

from enum import StrEnum

__all__ = ["ModelKind"]


class ModelKind(StrEnum):
    """The estimators the trainer can fit."""

    BOOSTING = "boosting"
    """scikit-learn HistGradientBoostingClassifier (the default)."""
    FOREST = "forest"
    """scikit-learn RandomForestClassifier."""
    LOGISTIC = "logistic"
    """Standardised scikit-learn LogisticRegression (fastest; explains its scores exactly)."""
    ONLINE = "online"
    """river's online logistic regression, learning the window's rows in event order."""
