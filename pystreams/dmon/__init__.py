"""dmon: Riemann's stream vocabulary for Python; write root streams in a module, test them with dmon.testing."""

from . import folds, state
from .core import Stream, describe, prime
from .events import event, expire, field, is_expired, normalize
from .outputs import (email, email_body, email_subject, forward, graphite, graphite_path,
                      graphite_path_percentiles, log, log_file, mailer, pagerduty,
                      prometheus_push, slack, stdout, webhook)
from .query import compile_query
from .runtime import Runtime, activate, current
from .streams import (MISSING, adjust, append, apdex, async_queue, batch, bit_bucket, by,
                      by_builder, changed, changed_state, clock_skew, coalesce, counter, ddt,
                      default, dual, ewma, ewma_timeless, exception_stream, execute_on, expired,
                      fill_in, fill_in_last, fixed_event_window, fixed_offset_time_window,
                      fixed_time_window, fold_interval, fold_interval_metric, index,
                      interpolate_constant, match, matches, moving_event_window,
                      moving_time_window, not_expired, over, percentiles, pipe,
                      predict_linear, project, publish, rate, regroup, register, rollup, runs,
                      scale, sdo,
                      sflatten, smap, smap_, smapcat, split, splitp, sreduce, stable, store, tag,
                      tagged, tagged_all, tagged_any, throttle, top, under, untag, when,
                      where, where_, window, with_)
from .testing import tap

__all__ = [n for n in dir() if not n.startswith("_")]
