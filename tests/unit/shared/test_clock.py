from shared import clock

NOW = 1_773_480_000_000  # 2026-03-14T09:20:00Z
HOUR = 3_600_000


def fix(**kw: object) -> clock.Correction | None:
    args: dict[str, object] = {
        "wall_ms": NOW,
        "mono": 50_000,
        "boot": "b1",
        "anchors": {},
        "batch_boot": "b1",
        "sent_mono": 60_000,
        "received_ms": NOW,
    }
    args.update(kw)
    return clock.correct(**args)  # type: ignore[arg-type]


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
