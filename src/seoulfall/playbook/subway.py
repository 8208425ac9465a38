"""``close_subway``: the trains stop (every line, some lines, or some stations)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from seoulfall.playbook.base import EventBase, MapFacts


class CloseSubway(EventBase):
    """The subway closes: every line (the default), the lines named, or the stations named.

    A closed line's trains stop at their next station and everyone aboard gets off there;
    nobody boards it again. At a closed station nobody boards, gets off or changes lines;
    trains run through it without stopping. Riders whose way is cut walk the rest (or
    their whole journey). It acts on a `[subway]` table and does nothing without one (the
    record says so).
    """

    type: Literal["close_subway"]
    lines: list[str] | Literal["all"] | None = Field(
        None,
        description="`all` or the lines to close (`2`, `Shinbundang`, ...: `subway_stations"
        ".csv`'s `line`); unset with `stations` unset: every line",
    )
    stations: list[str] | None = Field(
        None, description="stations to close, by English or Korean name (`Gangnam`, `강남`)"
    )

    def check(self, where: str, facts: MapFacts) -> None:  # noqa: D102
        if facts.subway_lines is None:
            raise ValueError(f"{where}: close_subway: only the seoul map has a subway")
        if isinstance(self.lines, list):
            for x in self.lines:
                if x not in facts.subway_lines:
                    raise ValueError(
                        f"{where}.lines: unknown line {x!r}; allowed: "
                        f"{', '.join(facts.subway_lines)}"
                    )
        for x in self.stations or []:
            if x.strip().casefold() not in facts.stations:
                raise ValueError(f"{where}.stations: unknown station {x!r} (subway_stations.csv)")

    def fire(self, book, i: int, step: int, rec: dict) -> None:  # noqa: D102
        sim = book.sim
        net = sim.subway
        if net is None:
            rec["riders_off"] = None  # no subway in this run: nothing to close
            return
        lines = self.lines if self.lines is not None or self.stations is None else "all"
        if lines is not None:
            names = net.lines if lines == "all" else list(lines)
            rec["lines"] = names
            lines = [net.lines.index(x) for x in names]
        groups = [net.group_index(x) for x in self.stations or []]
        if groups:
            rec["stations"] = [net.group_name[g] for g in groups]
        rec["riders_off"] = close(sim.stepper, lines or [], groups)


def close(stepper, lines, groups) -> int:
    """Close ``lines`` and station ``groups`` (indices): how many riders had to get off."""
    stepper.line_open[lines] = False
    stepper.group_open[groups] = False
    stepper.reroute()
    if not stepper.line_open.any():
        stepper.set_param("subway", 0.0)  # nothing runs: nobody heads for a station
    return stepper.leave_trains(~stepper.line_open[stepper.car_line])


def stop_trains(stepper) -> int:
    """Every line stops (an alert): how many riders had to get off."""
    return close(stepper, np.arange(stepper.line_open.size), [])
