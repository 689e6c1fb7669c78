"""The site during a build: re-rendered on a throttle that bounds its share of the time.

What the pages say meanwhile is in tests/site/test_status.py; the end-to-end check (a build
killed at its first render, then resumed) in test_build.py."""

from __future__ import annotations

from atlas.pipeline.progressive import Refresher


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_refresher_waits_for_the_interval_and_a_bounded_share_of_the_time() -> None:
    clock, calls = Clock(), []

    def render() -> None:  # a render that costs 10 s of the clock
        calls.append(clock.t)
        clock.t += 10.0

    r = Refresher(render, every=60, share=0.1, clock=clock)
    assert r.maybe() and calls == [0.0]  # the first is always due
    clock.t += 59
    assert not r.maybe()
    clock.t += 1  # 60 s passed, but a 10 s render may only run after 90 s more (10% share)
    assert not r.maybe()
    clock.t += 30
    assert r.maybe() and r.count == 2 and r.seconds == 20.0
    off = Refresher(render, every=0, clock=clock)
    assert not off.maybe() and not off.due()
