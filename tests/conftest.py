import pytest

from seoulfall import Scenario


@pytest.fixture(scope="session")
def small_seoul():
    """Seoul at 1/500 scale (about 19,000 agents) for half a day: fast but spatial."""
    return Scenario.load(
        "seoul-falls", {"population.scale": 0.002, "time.days": 0.5, "outbreak.zombies": 20}
    )
