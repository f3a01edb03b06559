"""IdSeq against a plain tuple model: every version, old ones included, stays what it was."""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from incidentd.declare.idseq import IdSeq

NAMES = ("a", "b", "c", "d", "e", "f", "g", "h")

# one step: (add or remove, which version it starts from, the ids)
steps = st.lists(
    st.tuples(
        st.booleans(),
        st.integers(min_value=0, max_value=10_000),
        st.lists(st.sampled_from(NAMES), max_size=6),
    ),
    max_size=60,
)


def _plus(model: tuple[str, ...], ids: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*model, *ids)))


def _minus(model: tuple[str, ...], ids: list[str]) -> tuple[str, ...]:
    return tuple(i for i in model if i not in ids)


def _step(
    versions: list[tuple[IdSeq, tuple[str, ...]]], add: bool, pick: int, ids: list[str]
) -> None:
    """A new version made from any version, beside its tuple model."""
    seq, model = versions[pick % len(versions)]
    if add:
        versions.append((seq.plus(ids), _plus(model, ids)))
    else:
        versions.append((seq.minus(ids), _minus(model, ids)))


def _same(seq: IdSeq, model: tuple[str, ...]) -> None:
    assert tuple(seq) == model
    assert seq == model
    assert len(seq) == len(model)
    assert bool(seq) is bool(model)
    assert hash(seq) == hash(model)
    assert list(reversed(seq)) == list(reversed(model))
    for name in NAMES:
        assert (name in seq) is (name in model)
        assert seq.count(name) == model.count(name)
    for i in range(-len(model), len(model)):
        assert seq[i] == model[i]
    assert seq[1:3] == model[1:3]
    seq.check()


@settings(max_examples=300, deadline=None)
@given(steps)
def test_every_version_matches_its_tuple_after_adds_and_removes_from_any_version(
    program: list[tuple[bool, int, list[str]]],
) -> None:
    """Each version against its tuple at each step; at the end, `since` and `precedes`
    between any two versions and any two ids."""
    versions: list[tuple[IdSeq, tuple[str, ...]]] = [(IdSeq(), ())]
    for add, pick, ids in program:
        _step(versions, add, pick, ids)
        for seq, model in versions:
            _same(seq, model)
    for seq, model in versions:
        for older, old_model in versions:
            assert tuple(seq.since(older)) == tuple(i for i in model if i not in old_model)
        for first in model:
            for second in model:
                assert seq.precedes(first, second) is (model.index(first) < model.index(second))


@settings(max_examples=100, deadline=None)
@given(steps)
def test_versions_pickle_copy_and_validate_as_their_items(
    program: list[tuple[bool, int, list[str]]],
) -> None:
    seq = IdSeq()
    adapter = TypeAdapter(IdSeq)
    for add, _, ids in program:
        seq = seq.plus(ids) if add else seq.minus(ids)
        back = pickle.loads(pickle.dumps(seq))  # noqa: S301 (our own bytes)
        assert back == seq
        _same(back, tuple(seq))
        assert copy.deepcopy(seq) == seq
        assert adapter.dump_python(seq, mode="json") == list(seq)
        assert adapter.validate_python(list(seq)) == seq


def test_the_newest_version_grows_in_place_and_an_older_one_copies() -> None:
    first = IdSeq(["a", "b"])
    second = first.plus(["c"])
    third = second.plus(["d"])
    assert second._log is first._log is third._log  # shared: no copy of a, b
    branch = second.plus(["x"])  # second is no longer the newest
    assert branch._log is not third._log
    assert (tuple(first), tuple(second), tuple(third), tuple(branch)) == (
        ("a", "b"),
        ("a", "b", "c"),
        ("a", "b", "c", "d"),
        ("a", "b", "c", "x"),
    )


def test_removing_keeps_older_versions_and_adding_again_goes_last() -> None:
    first = IdSeq(["a", "b", "c"])
    fewer = first.minus(["a", "zz"])
    again = fewer.plus(["a"])
    assert first == ("a", "b", "c")
    assert "a" in first
    assert fewer == ("b", "c")
    assert "a" not in fewer
    assert again == ("b", "c", "a")
    assert first.index("c") == 2
    assert again.index("a") == 2


def test_nothing_added_or_removed_is_the_same_version() -> None:
    seq = IdSeq(["a"])
    assert seq.plus(["a"]) is seq
    assert seq.minus(["b"]) is seq


def test_a_log_of_mostly_removed_ids_is_compacted() -> None:
    many = IdSeq(str(i) for i in range(1000))
    few = many.minus(str(i) for i in range(990))
    assert few == tuple(str(i) for i in range(990, 1000))
    assert len(few._log.items) == 10
    assert len(many) == 1000


def test_an_idseq_equals_a_tuple_but_not_a_list() -> None:
    assert IdSeq(["a"]) == ("a",)
    assert ("a",) == IdSeq(["a"])  # noqa: SIM300 (the tuple's side: its __eq__ defers)
    assert IdSeq(["a"]) != ["a"]
    with pytest.raises(IndexError):
        IdSeq()[0]


def test_since_an_older_version_of_the_same_lineage_is_what_was_appended() -> None:
    first = IdSeq(["a", "b"])
    later = first.plus(["c"]).plus(["d"])
    appended = later.since(first)
    assert list(appended) == ["c", "d"]
    assert list(later.since(IdSeq(["b", "d"]))) == ["a", "c"]  # another lineage: looked up
