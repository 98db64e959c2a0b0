"""Limits on everything that crosses the wire.

The collector enforces them; the agent stays within them."""

from typing import Final

MAX_PAYLOAD_BYTES: Final = 1_048_576  # compressed or not, as received from the broker
MAX_DECOMPRESSED_BYTES: Final = 4 * 1_048_576  # guards against gzip bombs
MAX_EVENTS_PER_BATCH: Final = 1_000
MAX_ID_LEN: Final = 64  # device, account, session, user ids
MAX_NAME_LEN: Final = 64  # device type, firmware version, feature, kind
MAX_LABELS: Final = 16
MAX_PROPS: Final = 16
MAX_KEY_LEN: Final = 32
MAX_VALUE_LEN: Final = 128
# Timestamps before this are treated as an unset gateway clock (no RTC: 1970 until NTP).
MIN_PLAUSIBLE_MS: Final = 1_577_836_800_000  # 2020-01-01T00:00:00Z
# Corrected timestamps may be at most this far ahead of the collector's clock.
MAX_FUTURE_SKEW_MS: Final = 10 * 60 * 1000
# Ids: letters, digits and a few separators, so they are safe in topics, paths and logs.
ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$"
NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:\-/ +]{0,63}$"
KIND_PATTERN: Final = r"^[a-z][a-z0-9_]{0,31}$"
# What one device may make the collector count (issue 16): every count derived from device
# input is bounded, so sums over the whole fleet stay far inside 64 bits.
MAX_SEQ: Final = 2**53  # sequence numbers and timestamps (ms): exact in every JSON reader
MAX_DROPPED_PER_BATCH: Final = 2**32  # events one batch may declare dropped (all its ranges)
MAX_STREAMS_PER_DEVICE_PER_DAY: Final = 100  # new streams a device may open in 24 h
MAX_STREAM_COUNT: Final = 2**32  # a stream's gap_events / dropped_events saturate here
MAX_STATUS_COUNT: Final = 2**40  # AgentStatus.buffer_depth and .dropped
MAX_STATUS_AGE_S: Final = 10 * 365 * 86_400.0  # AgentStatus.oldest_age_s (ten years)
