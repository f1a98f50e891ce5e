"""Analytics: pure numeric functions over arrays and frames; no database, no web, no other room."""

# Anomaly detection: streaming detector with explainable components, and the NAB scorer.
from juncture.analytics.anomaly import COMPONENTS as COMPONENTS
from juncture.analytics.anomaly import AnomalyAlert as AnomalyAlert
from juncture.analytics.anomaly import AnomalyResult as AnomalyResult
from juncture.analytics.anomaly import DetectorState as DetectorState
from juncture.analytics.anomaly import StreamingAnomalyDetector as StreamingAnomalyDetector
from juncture.analytics.anomaly import infer_season_length as infer_season_length
from juncture.analytics.anomaly import score_series as score_series

# KPI mathematics: survey scores, rates, business hours, baselines, comparisons, OKR trends.
from juncture.analytics.kpimath import BaselineResult as BaselineResult
from juncture.analytics.kpimath import BusinessCalendar as BusinessCalendar
from juncture.analytics.kpimath import CesResult as CesResult
from juncture.analytics.kpimath import Consistency as Consistency
from juncture.analytics.kpimath import CsatResult as CsatResult
from juncture.analytics.kpimath import DurationSummary as DurationSummary
from juncture.analytics.kpimath import FunnelResult as FunnelResult
from juncture.analytics.kpimath import GroupStanding as GroupStanding
from juncture.analytics.kpimath import Moments as Moments
from juncture.analytics.kpimath import NpsResult as NpsResult
from juncture.analytics.kpimath import PeriodDelta as PeriodDelta
from juncture.analytics.kpimath import Proportion as Proportion
from juncture.analytics.kpimath import TrendProjection as TrendProjection
from juncture.analytics.kpimath import business_seconds as business_seconds
from juncture.analytics.kpimath import ces as ces
from juncture.analytics.kpimath import compare_means as compare_means
from juncture.analytics.kpimath import compare_nps as compare_nps
from juncture.analytics.kpimath import compare_rates as compare_rates
from juncture.analytics.kpimath import csat as csat
from juncture.analytics.kpimath import duration_summary as duration_summary
from juncture.analytics.kpimath import funnel as funnel
from juncture.analytics.kpimath import histogram as histogram
from juncture.analytics.kpimath import mean_consistency as mean_consistency
from juncture.analytics.kpimath import nps as nps
from juncture.analytics.kpimath import project_trend as project_trend
from juncture.analytics.kpimath import proportion as proportion
from juncture.analytics.kpimath import rate_consistency as rate_consistency
from juncture.analytics.kpimath import seasonal_baseline as seasonal_baseline
from juncture.analytics.kpimath import seasonal_baseline_forecast as seasonal_baseline_forecast
from juncture.analytics.kpimath import wilson_interval as wilson_interval
from juncture.analytics.nab import PROFILES as PROFILES
from juncture.analytics.nab import CostProfile as CostProfile
from juncture.analytics.nab import NabFile as NabFile
from juncture.analytics.nab import NabScore as NabScore
from juncture.analytics.nab import optimise_threshold as optimise_threshold
from juncture.analytics.nab import score_at_threshold as score_at_threshold
