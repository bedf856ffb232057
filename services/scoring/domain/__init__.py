"""The scorer's pure domain: feature state and fold, churn, loyalty, segments, reasons.

No I/O and no clock: every time is an event time passed in. The Faust adapter converts Kafka
events into `events` values, folds them into a `FeatureState` per customer and calls `score`.
Formulas and their reasoning: docs/scoring.md.
"""

from services.scoring.domain.churn import ChurnParams, ChurnRisk, assess_churn, churn_band
from services.scoring.domain.events import (
    ComplaintClosed,
    ComplaintEscalated,
    ComplaintOpened,
    ComplaintReopened,
    ComplaintResolved,
    Event,
    Interaction,
    OrderCancelled,
    OrderPlaced,
    OrderReturned,
    ProfileChanged,
    SlaBreached,
    SurveyAnswered,
)
from services.scoring.domain.features import (
    DEFAULT_FEATURE_CONFIG,
    FeatureConfig,
    FeatureState,
    TrackedComplaint,
    fold,
    fold_all,
    state_from_record,
    state_to_record,
)
from services.scoring.domain.loyalty import LoyaltyParams, LoyaltyScore, loyalty_band
from services.scoring.domain.model import (
    DEFAULT_PARAMS,
    MODEL_VERSION,
    Score,
    ScoringParams,
    churn_trend,
    next_review_at,
    score,
)
from services.scoring.domain.population import (
    DEFAULT_POPULATION,
    PopulationParameters,
    PopulationSample,
    fit_population,
    population_sample,
)
from services.scoring.domain.reasons import Reason, ReasonCode, render
from services.scoring.domain.segments import LifecycleParams, lifecycle, value_tier
from services.scoring.domain.vocabulary import (
    Channel,
    ChurnBand,
    Direction,
    Lifecycle,
    LoyaltyBand,
    RelationshipStage,
    Severity,
    SlaTarget,
    Trend,
    ValueTier,
)

__all__ = [
    "DEFAULT_FEATURE_CONFIG",
    "DEFAULT_PARAMS",
    "DEFAULT_POPULATION",
    "MODEL_VERSION",
    "Channel",
    "ChurnBand",
    "ChurnParams",
    "ChurnRisk",
    "ComplaintClosed",
    "ComplaintEscalated",
    "ComplaintOpened",
    "ComplaintReopened",
    "ComplaintResolved",
    "Direction",
    "Event",
    "FeatureConfig",
    "FeatureState",
    "Interaction",
    "Lifecycle",
    "LifecycleParams",
    "LoyaltyBand",
    "LoyaltyParams",
    "LoyaltyScore",
    "OrderCancelled",
    "OrderPlaced",
    "OrderReturned",
    "PopulationParameters",
    "PopulationSample",
    "ProfileChanged",
    "Reason",
    "ReasonCode",
    "RelationshipStage",
    "Score",
    "ScoringParams",
    "Severity",
    "SlaBreached",
    "SlaTarget",
    "SurveyAnswered",
    "TrackedComplaint",
    "Trend",
    "ValueTier",
    "assess_churn",
    "churn_band",
    "churn_trend",
    "fit_population",
    "fold",
    "fold_all",
    "lifecycle",
    "loyalty_band",
    "next_review_at",
    "population_sample",
    "render",
    "score",
    "state_from_record",
    "state_to_record",
    "value_tier",
]
