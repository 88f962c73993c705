"""Offset pagination of the platform's listings: each item once, bad items set aside, loops stopped."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from reporter.client_messages import record_problem
from reporter.errors import RecordInvalid, ResponseInvalid
from reporter.models import ID_MAX, ApiModel, Page

logger = logging.getLogger(__name__)
M = TypeVar("M", bound=ApiModel)
MAX_PAGES = 10_000
MAX_BLIND_PAGES = 3  # pages in a row whose items all lack a usable id, before the listing is taken as looping
Get = Callable[[str, dict[str, Any]], Any]  # (path, query) -> the decoded JSON body


@dataclass(frozen=True, slots=True)
class Rejected:
    """A listed item that breaks the contract: its place in the listing, its id if usable, and why."""

    offset: int
    item_id: int | None
    reason: str


class Listing(Generic[M]):
    """The items of one listing, following ``next_offset`` to the end, each key once.

    Pages shift while runs arrive, so items may repeat: they are yielded once. A page bringing
    nothing new (the server repeats itself with an advancing offset) ends the listing with a
    warning. A *strict* listing (one run's results, read whole or not at all) raises
    ``RecordInvalid`` on the first bad item; a *lenient* one (the runs) sets the item aside in
    ``rejected``, with a warning, and uses the rest of the page. ``total`` is the last page's.
    """

    def __init__(
        self,
        get: Get,
        path: str,
        model: type[M],
        params: dict[str, Any],
        *,
        key: Callable[[M], object],
        run_id: int | None = None,
        offset: int = 0,
        id_field: str | None = None,
    ) -> None:
        self._get, self.path, self._model, self._params = get, path, model, params
        self._key, self.run_id, self._start, self._id_field = key, run_id, offset, id_field
        self.total: int | None = None
        self.rejected: list[Rejected] = []

    def __iter__(self) -> Iterator[M]:
        seen: set[object] = set()
        offset, blind = self._start, 0  # blind: pages in a row without one item with a usable id
        for _ in range(MAX_PAGES):
            page = parse(
                Page, self._get(self.path, {**self._params, "offset": offset}), self.path, self.run_id
            )
            self.total = page.pagination.total
            fresh = keyed = 0
            for index, raw in enumerate(page.data):
                item = self._item(raw, index, offset)
                key = ("rejected", self.rejected[-1].item_id) if item is None else self._key(item)
                if key == ("rejected", None):
                    continue  # no id to tell it from one listed before: neither new nor old
                keyed += 1
                if key not in seen:
                    seen.add(key)
                    fresh += 1
                    if item is not None:
                        yield item
            following = page.pagination.next_offset
            if following is None or not page.data:
                return
            if following <= offset:
                raise ResponseInvalid(
                    f"GET /{self.path}: pagination.next_offset {following} does not advance past "
                    f"offset {offset}; the server repeats a page",
                    endpoint=self.path,
                    run_id=self.run_id,
                )
            blind = 0 if keyed else blind + 1
            if (keyed and not fresh) or blind > MAX_BLIND_PAGES:
                what = "only items listed before" if keyed else f"no usable id ({blind} such pages in a row)"
                logger.warning(
                    "GET /%s: the page at offset %d holds %s; ending the listing there",
                    self.path,
                    offset,
                    what,
                )
                return
            offset = following
        raise ResponseInvalid(f"GET /{self.path}: more than {MAX_PAGES} pages; stopping", endpoint=self.path)

    def _item(self, raw: Any, index: int, offset: int) -> M | None:
        """The item validated; None when a lenient listing sets it aside."""
        try:
            return self._model.model_validate(raw)
        except ValidationError as exc:
            if self._id_field is None:
                about = f" (run {self.run_id})" if self.run_id is not None else ""
                raise _invalid(exc, self.path, about, f"data.{index}", self.run_id) from exc
            item_id = _usable_id(raw.get(self._id_field) if isinstance(raw, dict) else None)
            about = f": item at offset {offset + index}" + (f" (run {item_id})" if item_id else "")
            reason = str(_invalid(exc, self.path, about, "", None))
            logger.warning("%s; skipping it", reason)
            self.rejected.append(Rejected(offset + index, item_id, reason))
            return None


def parse(model: type[M], body: Any, path: str, run_id: int | None) -> M:
    """``body`` as ``model``, or ``RecordInvalid`` naming the endpoint, the run and the first bad field.

    A record about another run than the one asked for is invalid too: it would be stored under
    the wrong id.
    """
    about = f" (run {run_id})" if run_id is not None else ""
    try:
        record = model.model_validate(body)
    except ValidationError as exc:
        raise _invalid(exc, path, about, "", run_id) from exc
    answered = getattr(record, "run_id", run_id)
    if run_id is not None and answered != run_id:
        raise RecordInvalid(
            f"GET /{path}{about}: field run_id: the answer is about run {answered}",
            endpoint=path,
            run_id=run_id,
        )
    return record


def _invalid(exc: ValidationError, path: str, about: str, prefix: str, run_id: int | None) -> RecordInvalid:
    first = exc.errors()[0]
    field = ".".join([prefix, *map(str, first["loc"])] if prefix else map(str, first["loc"]))
    message = f"GET /{path}{about}: field {field or '(body)'}: {record_problem(first)}"
    return RecordInvalid(message, endpoint=path, run_id=run_id)


def _usable_id(value: Any) -> int | None:
    """An id the state file can hold (not a boolean, a float or text), else None."""
    return value if type(value) is int and 1 <= value <= ID_MAX else None
