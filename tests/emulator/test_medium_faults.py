"""A fault schedule around a medium: what a station receives is what the schedule says."""

from __future__ import annotations

from typing import Any

import pytest
from s1bench.emulator import mac
from s1bench.emulator.clock import VirtualClock
from s1bench.emulator.medium import make_medium
from s1bench.emulator.medium_faults import FaultMedium, FaultScheduleError, fault_counts

PAN = 0x4242


class _Station:
    def __init__(self, short: int) -> None:
        self.short, self.pan, self.ieee, self.extended_pan = short, PAN, 0xDB00 + short, 0xAB
        self.got: list[tuple[float, int]] = []
        self.clock: Any = None

    def frame_received(self, frame: bytes) -> None:
        self.got.append((self.clock.monotonic(), frame[2]))  # (when, MAC sequence number)


def _exchange(faults: list[dict[str, Any]], *, frames: int = 20, seed: int = 1,
              spacing: float = 1.0, src: int = 1, dst: int = 0) -> tuple[Any, _Station]:
    """``frames`` frames from ``src`` to ``dst``, one every ``spacing`` virtual seconds."""
    clock = VirtualClock()
    medium = make_medium("memory", clock=clock, seed=seed, latency=0.01, faults=faults)
    sender, receiver = _Station(src), _Station(dst)
    receiver.clock = clock
    medium.attach(sender)
    medium.attach(receiver)

    async def main() -> None:
        for seq in range(frames):
            medium.send(sender, mac.MacFrame(seq, PAN, dst, src, b"x" * 8).encode())
            await clock.sleep(spacing)
        await clock.sleep(5)

    clock.run(main())
    return medium, receiver


def test_no_schedule_means_no_wrapper() -> None:
    medium = make_medium("memory", clock=VirtualClock(), seed=1)
    assert not isinstance(medium, FaultMedium)
    assert fault_counts(medium) == {}


def test_drops_in_a_window_lose_exactly_the_frames_sent_in_it() -> None:
    medium, receiver = _exchange([{"kind": "drop", "from_s": 5, "until_s": 10}])
    assert [seq for _, seq in receiver.got] == [*range(5), *range(10, 20)]
    assert fault_counts(medium) == {"drop": 5}


def test_seeded_drops_replay_for_a_seed_and_differ_for_another() -> None:
    rules = [{"kind": "drop", "probability": 0.5}]
    first = [seq for _, seq in _exchange(rules, seed=3)[1].got]
    assert first == [seq for _, seq in _exchange(rules, seed=3)[1].got]
    assert first != [seq for _, seq in _exchange(rules, seed=4)[1].got]
    assert 0 < len(first) < 20


def test_a_duplicate_arrives_twice_and_a_delay_arrives_late() -> None:
    _, receiver = _exchange([{"kind": "duplicate", "delay_s": 0.5, "until_s": 1}], frames=2)
    assert [seq for _, seq in receiver.got] == [0, 0, 1]
    assert receiver.got[1][0] == pytest.approx(0.51)
    _, receiver = _exchange([{"kind": "delay", "delay_s": 3, "until_s": 1}], frames=2)
    assert receiver.got == [(pytest.approx(1.01), 1), (pytest.approx(3.01), 0)]


def test_a_reordered_frame_is_overtaken_by_the_next_one() -> None:
    _, receiver = _exchange([{"kind": "reorder", "from_s": 2, "until_s": 3, "delay_s": 10}],
                            frames=5)
    assert [seq for _, seq in receiver.got] == [0, 1, 3, 2, 4]
    # With nothing behind it, a held frame still goes once its hold is up.
    _, receiver = _exchange([{"kind": "reorder", "delay_s": 2}], frames=1)
    assert receiver.got == [(pytest.approx(2.01), 0)]


def test_direction_picks_frames_to_or_from_the_hub() -> None:
    medium, receiver = _exchange([{"kind": "drop", "direction": "from_hub"}], src=1, dst=0)
    assert len(receiver.got) == 20 and fault_counts(medium) == {}
    medium, receiver = _exchange([{"kind": "drop", "direction": "to_hub"}], src=1, dst=0)
    assert receiver.got == [] and fault_counts(medium) == {"drop": 20}


@pytest.mark.parametrize(("rules", "words"), [
    ([{"kind": "explode"}], "faults[0].kind"),
    ([{"kind": "drop", "probability": 2}], "faults[0].probability"),
    ([{"kind": "drop", "from_s": 9, "until_s": 3}], "until_s (3) must be after from_s"),
    ([{"kind": "drop", "when": 3}], "faults[0].when"),
])
def test_a_bad_rule_names_its_place(rules: list[dict[str, Any]], words: str) -> None:
    with pytest.raises(FaultScheduleError) as caught:
        make_medium("memory", clock=VirtualClock(), faults=rules)
    assert words in str(caught.value)
