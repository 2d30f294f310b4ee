"""The per-process program cache: a config change reaches every function within its time to live (10 s at most)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from loyalty.domain.program import ProgramConfig
from loyalty.errors import NotFound
from loyalty.services.programs import ProgramCache
from tests.unit.factories import program


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeStore:
    """Only what the cache touches: a table name and a program loader that counts its calls."""

    def __init__(self, table_name: str = "loyalty-test", programs: dict[str, ProgramConfig] | None = None) -> None:
        self.table_name = table_name
        self.programs = programs if programs is not None else {"prog-1": program(program_id="prog-1")}
        self.loads: list[str] = []

    def load_program(self, program_id: str) -> ProgramConfig | None:
        self.loads.append(program_id)
        return self.programs.get(program_id)


def get(cache: ProgramCache, store: FakeStore, program_id: str = "prog-1") -> ProgramConfig:
    return cache.get(cast(Any, store), program_id)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.mark.parametrize(("requested", "effective"), [(0.0, 0.0), (5.0, 5.0), (10.0, 10.0), (60.0, 10.0), (1e9, 10.0)])
def test_given_any_requested_time_to_live_then_it_is_capped_at_ten_seconds(requested: float, effective: float) -> None:
    assert ProgramCache(requested).ttl_seconds == effective


@pytest.mark.parametrize("elapsed", [0.0, 1.0, 4.999])
def test_given_a_read_within_the_time_to_live_then_the_cached_config_is_served_without_a_store_read(
    clock: FakeClock, store: FakeStore, elapsed: float
) -> None:
    cache = ProgramCache(5, clock=clock)
    first = get(cache, store)
    clock.advance(elapsed)

    assert get(cache, store) is first
    assert store.loads == ["prog-1"]


@pytest.mark.parametrize(("ttl", "elapsed"), [(5, 5.0), (5, 7.5), (60, 10.0), (60, 59.0)])
def test_given_the_time_to_live_has_passed_then_the_config_is_read_again(
    clock: FakeClock, store: FakeStore, ttl: float, elapsed: float
) -> None:
    cache = ProgramCache(ttl, clock=clock)
    get(cache, store)
    changed = program(program_id="prog-1", name="Renamed programme")
    store.programs["prog-1"] = changed
    clock.advance(elapsed)

    assert get(cache, store) is changed
    assert store.loads == ["prog-1", "prog-1"]


def test_given_a_reload_then_the_time_to_live_starts_again_from_the_reload(clock: FakeClock, store: FakeStore) -> None:
    cache = ProgramCache(5, clock=clock)
    get(cache, store)
    clock.advance(5)
    get(cache, store)
    clock.advance(4)

    get(cache, store)

    assert len(store.loads) == 2


def test_given_a_config_write_then_invalidating_makes_the_next_read_go_to_the_store(
    clock: FakeClock, store: FakeStore
) -> None:
    cache = ProgramCache(10, clock=clock)
    get(cache, store)
    changed = program(program_id="prog-1", name="Renamed programme")
    store.programs["prog-1"] = changed

    cache.invalidate(cast(Any, store), "prog-1")

    assert get(cache, store) is changed
    assert store.loads == ["prog-1", "prog-1"]


def test_given_invalidating_one_program_then_other_programs_stay_cached(clock: FakeClock) -> None:
    store = FakeStore(programs={"prog-1": program(program_id="prog-1"), "prog-2": program(program_id="prog-2")})
    cache = ProgramCache(10, clock=clock)
    get(cache, store, "prog-1")
    get(cache, store, "prog-2")

    cache.invalidate(cast(Any, store), "prog-1")
    get(cache, store, "prog-1")
    get(cache, store, "prog-2")

    assert store.loads == ["prog-1", "prog-2", "prog-1"]


def test_given_invalidating_a_program_never_cached_then_nothing_happens(clock: FakeClock, store: FakeStore) -> None:
    cache = ProgramCache(10, clock=clock)

    cache.invalidate(cast(Any, store), "never-seen")

    assert get(cache, store).program_id == "prog-1"


def test_given_two_tables_then_the_same_program_id_is_cached_separately_per_table(clock: FakeClock) -> None:
    blue = FakeStore("loyalty-blue", {"prog-1": program(program_id="prog-1", name="Blue")})
    green = FakeStore("loyalty-green", {"prog-1": program(program_id="prog-1", name="Green")})
    cache = ProgramCache(10, clock=clock)

    assert get(cache, blue).settings.name == "Blue"
    assert get(cache, green).settings.name == "Green"
    assert (blue.loads, green.loads) == (["prog-1"], ["prog-1"])


def test_given_an_unknown_program_then_get_raises_not_found_naming_it(clock: FakeClock, store: FakeStore) -> None:
    cache = ProgramCache(10, clock=clock)

    with pytest.raises(NotFound) as missing:
        get(cache, store, "nope")

    assert missing.value.details == {"program_id": "nope"}
    assert missing.value.status == 404


def test_given_a_program_created_right_after_a_miss_then_the_next_read_finds_it(
    clock: FakeClock, store: FakeStore
) -> None:
    cache = ProgramCache(10, clock=clock)
    with pytest.raises(NotFound):
        get(cache, store, "new-prog")
    store.programs["new-prog"] = program(program_id="new-prog")

    assert get(cache, store, "new-prog").program_id == "new-prog"
    assert store.loads == ["new-prog", "new-prog"]
