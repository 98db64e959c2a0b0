from typing import Any

from shared import clock

NOW = 1_773_480_000_000  # 2026-03-14T09:20:00Z
HOUR = 3_600_000


def fix(**kw: Any) -> clock.Correction | None:
    args: dict[str, Any] = {
        "wall_ms": NOW,
        "mono": 50_000,
        "boot": "b1",
        "anchors": {},
        "batch_boot": "b1",
        "sent_mono": 60_000,
        "received_ms": NOW,
    }
    args.update(kw)
    return clock.correct(**args)


def test_good_wall_clock_is_kept() -> None:
    assert fix(wall_ms=NOW - 10_000) == clock.Correction(NOW - 10_000, "wall")


def test_clock_reset_to_1970_is_placed_by_receive_time() -> None:
    # recorded 10 s before the batch was sent; the batch arrived at NOW
    assert fix(wall_ms=5_000) == clock.Correction(NOW - 10_000, "receive")


def test_clock_hours_ahead_is_corrected_by_anchor() -> None:
    anchors = {"b1": (40_000, NOW - 20_000)}  # collector time seen at mono 40 s
    got = fix(wall_ms=NOW + 5 * HOUR, anchors=anchors)
    assert got == clock.Correction(NOW - 10_000, "anchor")
    assert got.offset_ms(NOW + 5 * HOUR) == -5 * HOUR - 10_000


def test_previous_boot_uses_its_anchor_not_the_current_boot() -> None:
    anchors = {"b0": (1_000, NOW - 2 * HOUR)}
    got = fix(wall_ms=0, boot="b0", mono=61_000, anchors=anchors)
    assert got == clock.Correction(NOW - 2 * HOUR + 60_000, "anchor")


def test_previous_boot_without_anchor_and_bad_wall_clock_is_unknown() -> None:
    assert fix(wall_ms=0, boot="b0") is None


def test_wall_clock_far_in_future_without_estimate_is_unknown() -> None:
    assert fix(wall_ms=NOW + 48 * HOUR, mono=None) is None


# Boundaries, by hand: a wall clock is plausible from 2020-01-01 up to ten minutes past the
# collector's receive time, both ends included; an estimate agrees with the wall clock within
# two minutes either way, both ends included (then the wall clock, with no transit delay in it,
# is kept).
EARLIEST = 1_577_836_800_000  # 2020-01-01T00:00:00Z
SKEW = 10 * 60 * 1000
AGREE = 2 * 60 * 1000


def test_plausible_wall_clocks_include_both_ends() -> None:
    assert clock.plausible(EARLIEST, NOW) and not clock.plausible(EARLIEST - 1, NOW)
    assert clock.plausible(NOW + SKEW, NOW) and not clock.plausible(NOW + SKEW + 1, NOW)
    for wall in (EARLIEST, NOW + SKEW):  # kept as they are when nothing else is known
        assert fix(wall_ms=wall, mono=None) == clock.Correction(wall, "wall")
    for wall in (EARLIEST - 1, NOW + SKEW + 1):
        assert fix(wall_ms=wall, mono=None) is None


def test_an_estimate_within_two_minutes_either_way_keeps_the_wall_clock() -> None:
    est = NOW - 10_000  # the receive-time estimate of fix()'s event
    for wall in (est - AGREE, est + AGREE):
        assert fix(wall_ms=wall) == clock.Correction(wall, "wall")
    for wall in (est - AGREE - 1, est + AGREE + 1):
        assert fix(wall_ms=wall) == clock.Correction(est, "receive")


def test_an_implausible_estimate_is_not_used() -> None:
    # An anchor placing the event before 2020 or past the skew: the wall clock if plausible,
    # else unknown. At the ends the estimate is still used.
    wall = NOW - HOUR
    for true_at_mono_0, ok in ((EARLIEST, True), (EARLIEST - 1, False), (NOW + SKEW, True),
                               (NOW + SKEW + 1, False)):  # fmt: skip
        anchors = {"b1": (0, true_at_mono_0)}
        want = clock.Correction(true_at_mono_0, "anchor") if ok else clock.Correction(wall, "wall")
        assert fix(wall_ms=wall, mono=0, anchors=anchors) == want
        assert fix(wall_ms=0, mono=0, anchors=anchors) == (want if ok else None)


def test_the_receive_estimate_needs_the_sending_boot_and_its_send_time() -> None:
    assert fix(wall_ms=0, batch_boot="other") is None
    assert fix(wall_ms=0, sent_mono=None) is None
    assert fix(wall_ms=0, boot=None) is None
