"""`IdSeq`: an immutable, insertion-ordered set of ids whose successive versions share storage.

An incident keeps the fingerprints of its alerts (every one ever attached) and of its firing
alerts in the order they were attached; a storm incident holds tens of thousands, and each
attach or resolve makes a new version of the frozen record. Copying the ids at every version
made one attach cost as much as the incident was big. Like a Go slice, versions here are
views of one shared log: adding to (or removing from) the newest version writes to the log
in place and returns a new, longer view; older views keep seeing exactly what they saw (they
stop at their length and ignore removals stamped after their version). Changing an older
version copies its items into a log of its own first. Adding and removing cost the ids
added or removed; membership is one dict look-up for the newest version.

The value semantics are those of the tuple it replaces: equal to an `IdSeq` or a tuple of
the same items in the same order (and hashed alike), pickled as its items, iterated in
order. Not thread-safe: one writer (the engine), readers of older versions anywhere.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from itertools import compress, islice
from typing import Any, overload

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

_KEPT = sys.maxsize
"""The removal stamp of an item no version removed."""
_DEAD_KEPT = 64
"""Removed items a log may hold beyond as many as its live ones before it is compacted."""


class _Log:
    """What the views of one lineage share. Only the newest view (`version`) changes it."""

    __slots__ = ("_last", "ends", "items", "version")

    def __init__(self, items: Iterable[str], *, unique: bool = False) -> None:
        self.items: list[str] = list(items) if unique else list(dict.fromkeys(items))
        """Every id added, in order (an id removed then added again is here twice)."""
        self._last: dict[str, int] | None = None
        self.ends: list[int] = [_KEPT] * len(self.items)
        """Per item: the version that removed it (present in the versions below it)."""
        self.version = 0
        """The version of the newest view."""

    @property
    def last(self) -> dict[str, int]:
        """Each id's latest position in `items`; built at first use (a record read from the
        store for the API is only iterated). Raises RuntimeError when the ids it was built
        from as unique (`IdSeq.stored`) hold one twice: nothing has changed the log before
        its index is built, so each id is there once."""
        if self._last is None:
            last = dict(zip(self.items, range(len(self.items)), strict=True))
            if len(last) != len(self.items):
                raise RuntimeError(f"stored ids held twice: {len(self.items) - len(last)}")
            self._last = last
        return self._last


class IdSeq(Sequence[str]):
    __slots__ = ("_log", "_size", "_stop", "_version")

    def __init__(self, items: Iterable[str] = ()) -> None:
        """The ids of `items` in order, each once (the first occurrence counts)."""
        self._start(_Log(items))

    def _start(self, log: _Log) -> None:
        self._log = log
        self._stop = len(log.items)
        self._version = 0
        self._size = self._stop

    @classmethod
    def stored(cls, items: Iterable[str]) -> IdSeq:
        """The ids of a stored record, which an IdSeq wrote (each once), taken as they are:
        de-duplicating hashed each of a storm incident's 24,000 ids at every read, for an
        API answer that only lists them. Checked when its index is built (`_Log.last`), at
        the first look-up or change: an id held twice raises RuntimeError then."""
        seq = cls.__new__(cls)
        seq._start(_Log(items, unique=True))
        return seq

    @classmethod
    def of(cls, items: Iterable[str]) -> IdSeq:
        """`items` itself when it is an IdSeq, else an IdSeq of them."""
        return items if isinstance(items, IdSeq) else cls(items)

    @classmethod
    def _view(cls, log: _Log, size: int) -> IdSeq:
        view = cls.__new__(cls)
        view._log = log
        view._stop = len(log.items)
        view._version = log.version
        view._size = size
        return view

    def _own(self) -> _Log:
        """The log to change: the shared one when this is its newest version, else a copy."""
        if self._version == self._log.version:
            return self._log
        return _Log(self)

    # -- new versions ----------------------------------------------------------------------

    def plus(self, ids: Iterable[str]) -> IdSeq:
        """These ids and then those of `ids` not in it yet, in order. Itself when none."""
        log = self._own()
        items, ends, last = log.items, log.ends, log.last
        added = 0
        for item in ids:
            at = last.get(item)
            if at is not None and ends[at] == _KEPT:
                continue
            last[item] = len(items)
            items.append(item)
            ends.append(_KEPT)
            added += 1
        if not added:
            return self
        log.version += 1
        return IdSeq._view(log, self._size + added)

    def minus(self, ids: Iterable[str]) -> IdSeq:
        """These ids without those of `ids`, the order kept. Itself when none was in it."""
        log = self._own()
        ends, last = log.ends, log.last
        version = log.version + 1
        removed = 0
        for item in ids:
            at = last.get(item)
            if at is not None and ends[at] == _KEPT:
                ends[at] = version
                removed += 1
        if not removed:
            return self
        log.version = version
        size = self._size - removed
        if len(log.items) - size > size + _DEAD_KEPT:
            return IdSeq(IdSeq._view(log, size))  # compacted: iteration costs what it holds
        return IdSeq._view(log, size)

    # -- reading ---------------------------------------------------------------------------

    def since(self, older: IdSeq) -> Sequence[str]:
        """The ids of this version that `older` does not hold, in order. When this version
        only added to `older` (one lineage, nothing removed from either), those are the ids
        it appended, found without looking at the others."""
        log = self._log
        if older._log is log and self._size == self._stop and older._size == older._stop:
            return log.items[older._stop : self._stop]
        return [item for item in self if item not in older]

    def precedes(self, first: str, second: str) -> bool:
        """`first` comes before `second` in this version, which holds both."""
        log = self._log
        at, other = log.last.get(first), log.last.get(second)
        if at is not None and other is not None and max(at, other) < self._stop:
            return at < other  # the latest positions, within this version: the ones it holds
        order = tuple(self)
        return order.index(first) < order.index(second)

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[str]:
        log = self._log
        if self._size == self._stop:  # nothing removed below this view's end
            return islice(log.items, self._stop)
        version = self._version
        present = [end > version for end in log.ends[: self._stop]]
        return compress(islice(log.items, self._stop), present)

    def __contains__(self, item: object) -> bool:
        log = self._log
        at = log.last.get(item) if isinstance(item, str) else None
        if at is None:
            return False
        if at < self._stop:
            return log.ends[at] > self._version
        return any(i == item for i in self)  # added again after this version: look back

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...

    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        if isinstance(index, int) and self._size == self._stop:
            return self._log.items[range(self._stop)[index]]
        return tuple(self)[index]

    def __reversed__(self) -> Iterator[str]:
        return reversed(tuple(self))

    def index(self, value: Any, start: int = 0, stop: int = sys.maxsize) -> int:
        return tuple(self).index(value, start, stop)

    def count(self, value: Any) -> int:
        return 1 if value in self else 0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, IdSeq):
            if (other._log, other._stop, other._version) == (self._log, self._stop, self._version):
                return True
            return self._size == other._size and tuple(self) == tuple(other)
        if isinstance(other, tuple):
            return self._size == len(other) and tuple(self) == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"IdSeq({tuple(self)!r})"

    def __reduce__(self) -> tuple[type[IdSeq], tuple[tuple[str, ...]]]:
        return IdSeq, (tuple(self),)

    def check(self) -> None:
        """Raise RuntimeError when the shared log's index disagrees with the items (what
        `Declarer.verify` runs in the tests)."""
        items = tuple(self)
        if len(set(items)) != len(items) or len(items) != self._size:
            raise RuntimeError(f"ids held twice or miscounted: {len(items)} != {self._size}")
        missing = [i for i in items if i not in self]
        if missing:
            raise RuntimeError(f"ids not found in their own sequence: {missing[:5]}")

    # -- pydantic: validated from and serialised as a list of strings ------------------------

    @classmethod
    def _validated(cls, value: IdSeq | list[str]) -> IdSeq:
        return value if isinstance(value, IdSeq) else cls.stored(value)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        strings = core_schema.list_schema(core_schema.str_schema())
        return core_schema.no_info_after_validator_function(
            cls._validated,
            core_schema.union_schema([core_schema.is_instance_schema(cls), strings]),
            serialization=core_schema.plain_serializer_function_ser_schema(
                list, return_schema=strings
            ),
        )
