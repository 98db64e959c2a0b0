"""The demo's fleet as a model: accounts, devices, firmware releases and every device's day plan,
all deterministic from one seed. The demo imports the history of most devices as JSON lines,
replays the rest through real agents, and the agents' live traffic later follows the same plans
(`Device.session`), so what the collector shows while serving is what the model says.

The story it tells (docs/demo.md):
- engaged accounts use more features on more days, with longer sessions, and renew more often;
- the older firmware of each type (2.0, 1.4, 3.1) is used less and its devices churn;
- three releases roll out mid-history to part of the fleet, the rest stays behind as control:
  press-x 2.1 -> 2.2 helps (more active days, recipes used more), lathe-9 1.5 -> 1.6 hurts a
  core feature (probe almost never works), weld-7 3.2 -> 3.3 changes nothing;
- a few accounts churned before the last 30 days (dropped), a few are fading now (at risk).

Timing keeps the releases measurable without bias (specs/releases.md compares each upgraded
device with the devices that stayed, over 14 days either side): lifecycle changes (churn, pause,
new devices, fading accounts) never touch a device that could be upgraded or a control inside
those windows, and accounts work on a fixed weekly schedule, so a 14-day window always holds
the same working days.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TextIO

DAY_MS = 86_400_000
MIN_DAYS = 90  # the releases, then the previous period and the period (30 days each)


@dataclass(frozen=True, slots=True)
class DeviceType:
    name: str
    core: tuple[str, ...]
    feature_p: dict[str, float]  # chance an enabled feature is used in a session
    old: str  # versions: used less, churning; current (some upgrade); new (the release)
    current: str
    new: str
    share: float  # of the fleet
    # Chance a current device gets the release: 1/3 to 2/3 (more in engaged accounts) times this.
    # A smaller rollout leaves more devices behind: the control's own noise shrinks (the
    # bootstrap over transitions does not see it), which the release without effect needs.
    rollout: float = 1.0


@dataclass(frozen=True, slots=True)
class Firmware:
    use: float  # multiplies the chance a device is used on a working day
    features: dict[str, float] = field(default_factory=dict)  # multiplies feature chances


TYPES = (
    DeviceType("press-x", ("calibrate", "export", "recipes"),
               {"calibrate": 0.85, "export": 0.5, "recipes": 0.35}, "2.0", "2.1", "2.2", 0.45),
    DeviceType("lathe-9", ("jog", "spindle", "probe"),
               {"jog": 0.9, "spindle": 0.5, "probe": 0.5}, "1.4", "1.5", "1.6", 0.35),
    DeviceType("weld-7", ("weld", "seam-track", "logbook"),
               {"weld": 0.9, "seam-track": 0.45, "logbook": 0.35}, "3.1", "3.2", "3.3", 0.20,
               rollout=0.5),
)  # fmt: skip
FIRMWARE = {
    "2.0": Firmware(0.75, {"recipes": 0.15, "export": 0.7}),
    "2.1": Firmware(1.0),
    "2.2": Firmware(1.4, {"recipes": 1.8}),  # the release that helps
    "1.4": Firmware(0.7, {"probe": 0.4, "spindle": 0.8}),
    "1.5": Firmware(1.0),
    "1.6": Firmware(1.0, {"probe": 0.05}),  # the release that breaks probing
    "3.1": Firmware(0.8, {"logbook": 0.5}),
    "3.2": Firmware(1.0),
    "3.3": Firmware(1.0),  # a release that changes nothing
}
# What each release is meant to show: (device type, from, to) -> (verdict, metric that shows it)
RELEASES = {
    ("press-x", "2.1", "2.2"): ("helps", "active_share"),
    ("lathe-9", "1.5", "1.6"): ("hurts", "breadth"),
    ("weld-7", "3.2", "3.3"): ("no effect", None),
}
CORE = {t.name: list(t.core) for t in TYPES}
KEY_ACTIONS = {"press-x": ["recipes"], "lathe-9": ["probe"], "weld-7": ["seam-track"]}
NAMES = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell",
         "cyberdyne", "soylent", "vandelay", "wonka", "oceanic", "massive", "gringotts",
         "nakatomi", "duff", "monarch", "virtucon", "aperture")  # fmt: skip
SUFFIXES = ("", "-tools", "-fab", "-metal")
REGIONS = ("eu", "us", "apac")


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    engagement: float  # 0..1: drives days, features, session length and the renewal
    weekdays: frozenset[int]  # its working days (0 = Monday)
    enabled: frozenset[str]  # the features its workflows use
    minutes: float  # typical session length
    region: str
    fate: str  # steady | churned (gone before the last 30 days) | fading (during them)


@dataclass(frozen=True, slots=True)
class Session:
    day: int
    start_ms: int
    minutes: int
    features: tuple[str, ...]
    firmware: str


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    account: Account
    type: DeviceType
    firmware: str  # at the start of its history
    upgrade: tuple[int, str] | None  # (from this day on, this version)
    first: int  # first possible day of use
    stop: int | None  # churned from this day on
    pause: tuple[int, int] | None  # not used in [lo, hi)
    fade: int | None  # used less and less from this day on
    p_use: float
    seed: int

    def firmware_on(self, day: int) -> str:
        return self.upgrade[1] if self.upgrade and day >= self.upgrade[0] else self.firmware

    def plan(self, origin: date, days: int) -> list[Session | None]:
        """The device's use on days 0 .. days - 1 (0 = `origin`): deterministic, and a longer
        plan starts with the shorter one, so the live fleet can follow it past today."""
        rng = random.Random(f"{self.seed}:{self.id}")
        z = self.account.engagement
        out: list[Session | None] = []
        weekdays = self.account.weekdays
        first_weekday = origin.weekday()
        for day in range(days):
            # Every day draws the same numbers whether used or not: plans stay aligned.
            draws = [rng.random() for _ in range(2 + len(self.type.core))]
            minutes = max(1, round(self.account.minutes * rng.lognormvariate(0, 0.35)))
            start = rng.randrange(7 * 60, 17 * 60) * 60_000
            out.append(None)
            if day < self.first or (self.stop is not None and day >= self.stop):
                continue
            if self.pause and self.pause[0] <= day < self.pause[1]:
                continue
            fw = self.firmware_on(day)
            p = self.p_use * FIRMWARE[fw].use
            if self.fade is not None and day >= self.fade:
                p *= max(0.05, 1 - (day - self.fade) / 12)
            # The upgrade is installed while the machine is in use: the transition's day is the
            # planned one (were it the next day of use, the days before it would be idle by
            # construction, and the before/after change biased upwards).
            upgrading = self.upgrade is not None and day == self.upgrade[0]
            if not upgrading and (
                (first_weekday + day) % 7 not in weekdays or draws[0] >= min(p, 0.97)
            ):
                continue
            feats = []
            for f, u in zip(self.type.core, draws[2:], strict=True):
                pf = self.type.feature_p[f] * (0.6 + 0.6 * z) * FIRMWARE[fw].features.get(f, 1.0)
                if f in self.account.enabled and u < min(pf, 0.97):
                    feats.append(f)
            out[-1] = Session(day, start, minutes, tuple(feats), fw)
        return out


@dataclass(frozen=True, slots=True)
class Fleet:
    origin: date  # day 0
    days: int  # history: days 0 .. days - 1 (the last one is today)
    accounts: tuple[Account, ...]
    devices: tuple[Device, ...]  # imported history
    agents: tuple[Device, ...]  # the live fleet of real agents

    def day_start_ms(self, day: int) -> int:
        d = self.origin + timedelta(days=day)
        return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)


def _weekdays(n: int) -> frozenset[int]:
    return frozenset({2: (0, 3), 3: (0, 2, 4), 4: (0, 1, 2, 3)}.get(n, range(n)))


def _accounts(rng: random.Random, n: int) -> list[Account]:
    names = [f"{a}{s}" for s in SUFFIXES for a in NAMES][:n]
    zs = [rng.betavariate(1.5, 1.5) for _ in names]
    low = sorted(range(n), key=lambda i: zs[i])[: n // 2]  # churned and fading: the less engaged
    rng.shuffle(low)
    churned, fading = set(low[: round(0.07 * n)]), set(low[round(0.07 * n) : round(0.16 * n)])
    out = []
    for i, (name, z) in enumerate(zip(names, zs, strict=True)):
        enabled = {t.core[0] for t in TYPES} | {
            f for t in TYPES for f in t.core[1:] if rng.random() < 0.15 + 0.8 * z
        }
        fate = "churned" if i in churned else "fading" if i in fading else "steady"
        out.append(Account(name, z, _weekdays(min(7, 2 + round(z * 6))), frozenset(enabled),
                           5 + 30 * z, REGIONS[i % 3], fate))  # fmt: skip
    return out


def build_fleet(seed: int, devices: int, agents: int, n_accounts: int, days: int) -> Fleet:
    """Accounts of uneven size, each with its own mix of device types; `agents` of the devices
    (spread over the accounts) are the live fleet."""
    if days < MIN_DAYS:
        raise ValueError(f"the story needs at least {MIN_DAYS} days of history")
    rng = random.Random(seed)
    today = datetime.now(UTC).date()
    origin = today - timedelta(days=days - 1)
    t = days - 1  # today's index; P = [t - 29, t], P' = [t - 59, t - 30]
    accounts = _accounts(rng, n_accounts)
    sizes = [rng.lognormvariate(0, 0.6) for _ in accounts]
    mixes = [[dt.share * rng.lognormvariate(0, 0.7) * (rng.random() > 0.15) + 1e-3
              for dt in TYPES] for _ in accounts]  # fmt: skip
    total = devices + agents
    made: list[Device] = []
    for a, size, mix in zip(accounts, sizes, mixes, strict=True):
        n = max(3, round(total * size / sum(sizes)))
        for k in range(n):
            dt = rng.choices(TYPES, mix)[0]
            made.append(_device(rng, f"{dt.name[:5]}-{a.id}-{k:03d}", a, dt, t, seed))
    rng.shuffle(made)
    step = max(1, len(made) // max(agents, 1))
    # Agents keep their firmware (an upgrade restarts an agent): devices that never upgrade.
    live = [d for d in made[::step] if d.upgrade is None][:agents]
    live += [d for d in made if d.upgrade is None and d not in live][: agents - len(live)]
    live_ids = {d.id for d in live}
    return Fleet(origin, days, tuple(accounts), tuple(d for d in made if d.id not in live_ids),
                 tuple(live))  # fmt: skip


def _device(
    rng: random.Random, dev_id: str, a: Account, dt: DeviceType, t: int, seed: int
) -> Device:
    z = a.engagement
    p_use = 0.25 + 0.6 * z
    upgrade, first, stop, pause, fade = None, 0, None, None, None
    if a.fate == "churned" or rng.random() < 0.5 - 0.35 * z:
        fw = dt.old
        life = rng.choices(["churn", "pause", "steady"], [0.25, 0.1, 0.65])[0]
        if a.fate == "churned" or life == "churn":
            stop = rng.randrange(t - 40, t - 29)  # churned inside P': dropped in P
        elif life == "pause":
            pause = (t - 59, t - 29)  # away for all of P', back in P: recovered
    elif rng.random() < 0.1 and a.fate == "steady":
        # Installed during P, shipped with the current firmware or the new release.
        fw, first = rng.choice((dt.current, dt.new)), rng.randrange(t - 29, t - 2)
    else:
        fw = dt.current
        if a.fate == "steady" and rng.random() < (0.3 + 0.4 * z) * dt.rollout:
            # The rollout ends before P' begins: an upgraded device is not "dropped" from its
            # old version's segment, only moved; its windows end by about t - 44.
            upgrade = (rng.randrange(t - 75, t - 65), dt.new)
    if a.fate == "fading":
        fade = t - 24  # after every release window: at risk in P, no bias in the releases
    return Device(dev_id, a, dt, fw, upgrade, first, stop, pause, fade, p_use, seed)


def history(fleet: Fleet, device: Device, now_ms: int) -> Iterator[Session]:
    """The device's sessions of days 0 .. today, each ending before `now_ms` (today's session is
    moved earlier if need be: the collector rightly refuses events from the future)."""
    for s in device.plan(fleet.origin, fleet.days):
        if s is None:
            continue
        day = s.day
        start = fleet.day_start_ms(day) + s.start_ms
        span = (s.minutes + 1) * 60_000
        if start + span > now_ms:
            start = now_ms - span - 60_000
            if start < fleet.day_start_ms(day):
                continue  # just after midnight: too early for today's session
        yield Session(day, start, s.minutes, s.features, s.firmware)


def session_events(s: Session, sid: str) -> list[dict[str, object]]:
    """One session as events: start, a use of each feature spread over it, end with duration."""
    step = s.minutes * 60_000 // (len(s.features) + 1)
    evs: list[dict[str, object]] = [{"kind": "session_start", "session_id": sid, "ts": s.start_ms}]
    for i, f in enumerate(s.features, 1):
        evs.append({"kind": "feature_use", "feature": f, "session_id": sid,
                    "ts": s.start_ms + i * step})  # fmt: skip
    evs.append({"kind": "session_end", "session_id": sid, "ts": s.start_ms + s.minutes * 60_000,
                "props": {"duration_s": s.minutes * 60}})  # fmt: skip
    return evs


def history_lines(fleet: Fleet, now_ms: int) -> Iterator[str]:
    """The imported devices' history as import lines (collector.cli import), one device's
    lines at a time. An imported session is its feature uses and its end (with the duration):
    all the metrics read, and a quarter fewer lines to import than with the start too (the
    import stores some thousands of lines a second). The agents' sessions have both ends.
    Lines are put together by hand (every value is a plain name or number): json.dumps of
    200,000 dicts would take a good part of the demo's time."""
    n = 0
    for dev_no, d in enumerate(fleet.devices):
        common = (
            f'"device_id":"{d.id}","account_id":"{d.account.id}","device_type":"{d.type.name}",'
            f'"labels":{{"region":"{d.account.region}"}}'
        )
        lines = []
        for s in history(fleet, d, now_ms):
            head = f'{{{common},"firmware_version":"{s.firmware}","session_id":"s{s.day}"'
            for ev in session_events(s, f"s{s.day}")[1:]:  # no session_start: see above
                n += 1
                extra = f',"feature":"{ev["feature"]}"' if "feature" in ev else ""
                if "props" in ev:
                    extra += f',"props":{json.dumps(ev["props"])}'
                lines.append(f'{head},"id":"{_uuid(dev_no, n)}","kind":"{ev["kind"]}",'
                             f'"ts":"{_iso(int(str(ev["ts"])))}"{extra}}}\n')  # fmt: skip
        yield "".join(lines)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _uuid(device: int, n: int) -> str:
    h = f"{device:08x}{n:024x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def write_outcomes(fleet: Fleet, out: TextIO, seed: int) -> int:
    """One renewal decision per account in the last four weeks, more often `renewed` (or
    `expanded`) the more engaged the account: specs/outcomes.md lines. Fading accounts have not
    come up for renewal yet: they are the ones to save."""
    rng = random.Random(seed + 1)
    n = 0
    for a in fleet.accounts:
        if a.fate == "fading":
            continue
        p = 0.05 if a.fate == "churned" else 1 / (1 + math.exp(-7 * (a.engagement - 0.35)))
        kept = rng.random() < p
        grew = rng.random() < a.engagement / 2
        outcome = ("expanded" if grew else "renewed") if kept else "churned"
        day = fleet.origin + timedelta(days=fleet.days - 1 - rng.randrange(1, 29))
        line = {"account_id": a.id, "outcome": outcome, "date": day.isoformat()}
        out.write(json.dumps(line) + "\n")
        n += 1
    return n
