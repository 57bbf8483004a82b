"""The segment builder: conditions in rows and groups, no JSON to write.

The form posts to the server, which turns the rows into the definition's JSON form
(audiences_form), checks it with the domain (`segments.check`) and puts each problem on its
row. Buttons that change the form's shape (add a condition or a group, remove one, add a
property filter) post the form too and get it back changed: with htmx only the rows are
swapped, without it the whole page comes back. While the reader edits, htmx asks for the
preview (`/audiences/preview`): how many people match right now, the definition in words,
and the problems next to their rows. Counting a large installation takes several requests
of PREVIEW_BUDGET each: the preview shows the count so far and asks for the rest.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any, Final

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from omnicx.access import audit
from omnicx.access.sessions import ConsoleSession
from omnicx.audiences import segments as store
from omnicx.audiences.definition import COMPUTED_TRAITS, Definition, to_json
from omnicx.audiences.definition_text import render as definition_text
from omnicx.audiences.errors import DefinitionError, Problem
from omnicx.audiences.preview import START, MatchCount, count_matches
from omnicx.audiences.segments import Segment, SegmentError
from omnicx.audiences.values import KIND_OPS, TRAIT_OPS
from omnicx.collect.sources import CHANNELS
from omnicx.console import i18n
from omnicx.console.audiences_common import (
    SECTION,
    actor,
    known_event_names,
    segment_or_404,
    transaction,
)
from omnicx.console.audiences_form import (
    MAX_GROUP_DEPTH,
    TIMES,
    WINDOWS,
    Row,
    RowError,
    apply_action,
    blank_form,
    build,
    place_problems,
    rows_from_definition,
    rows_from_form,
)
from omnicx.console.definitions import in_words, problem_in_words
from omnicx.console.rendering import render
from omnicx.console.security import engine_of, require
from omnicx.identity.config import BUILT_IN_TYPES
from omnicx.profiles import service as profiles
from omnicx.profiles.consent import CONSENT_CHANNELS, PURPOSES
from omnicx.store.clock import utc_now

router = APIRouter()

WRITE = require("audiences.write")
Writer = Annotated[ConsoleSession, Depends(WRITE)]
PREVIEW_BUDGET: Final = 0.5
"""Seconds of counting per preview request (then the preview asks for the rest)."""
PREVIEW_PAGE: Final = 500
"""Profiles counted per round of queries."""
MAX_DESCRIPTION: Final = 2000
_SLUG: Final = re.compile(r"[^a-z0-9]+")


@dataclass(slots=True)
class Meta:
    """The segment's own fields in the form."""

    name: str = ""
    key: str = ""
    description: str = ""
    allow_new_traits: bool = False
    errors: dict[str, str] = field(default_factory=dict)
    """Field -> what is wrong (a code the template words, or the domain's message)."""


def _words(language: str) -> Callable[[Problem], str]:
    """How the domain's problems read in `language` (the API and the CLI keep the English)."""
    return partial(problem_in_words, language=language)


def _form_lists(form: FormData) -> dict[str, list[str]]:
    return {name: [v for v in form.getlist(name) if isinstance(v, str)] for name in form}


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _meta(form: FormData) -> Meta:
    return Meta(
        name=_text(form, "name"),
        key=_text(form, "key"),
        description=_text(form, "description"),
        allow_new_traits=_text(form, "allow_new_traits") == "on",
    )


def key_from_name(name: str) -> str:
    """A segment key from its name: ASCII lower case, words joined by `-`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return _SLUG.sub("-", ascii_name.lower()).strip("-")[:100].strip("-")


def _options(connection: Connection, editing: Segment | None) -> dict[str, Any]:
    return {
        "segments": [
            s for s in store.all_segments(connection) if editing is None or s.id != editing.id
        ],
        "events": known_event_names(connection),
        "computed": COMPUTED_TRAITS,
        "kind_ops": KIND_OPS,
        "ops": TRAIT_OPS,
        "times": TIMES,
        "windows": WINDOWS,
        "channels": CHANNELS,
        "consent_channels": CONSENT_CHANNELS,
        "purposes": tuple(PURPOSES),
        "identity_types": tuple(BUILT_IN_TYPES),
        "max_depth": MAX_GROUP_DEPTH,
    }


def _page(
    request: Request,
    connection: Connection,
    *,
    root: Row,
    meta: Meta,
    editing: Segment | None,
    left: Sequence[RowError] = (),
    refresh_preview: bool = False,
    preview: Preview | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "audiences/builder.html",
        {
            "section": SECTION,
            "tab": "segments",
            "root": root,
            "meta": meta,
            "editing": editing,
            "left": list(left),
            "options": _options(connection, editing),
            "action_url": f"/console/audiences/{editing.id}/edit"
            if editing is not None
            else "/console/audiences/new",
            "refresh_preview": refresh_preview,
            "preview": preview,
            "refused": status_code == 422,
        },
        status_code=status_code,
    )


@router.get("/audiences/new")
def new_segment(request: Request, session: Writer) -> Response:
    """The builder for a new segment: one empty condition."""
    with transaction(request) as connection:
        return _page(request, connection, root=blank_form(), meta=Meta(), editing=None)


@router.get("/audiences/{segment_id:int}/edit")
def edit_segment(request: Request, session: Writer, segment_id: int) -> Response:
    """The builder showing a segment's definition, with its preview."""
    with transaction(request) as connection:
        segment = segment_or_404(connection, segment_id)
        meta = Meta(name=segment.name, key=segment.key, description=segment.description)
        root = rows_from_definition(segment.document)
        return _page(
            request, connection, root=root, meta=meta, editing=segment, refresh_preview=True
        )


@router.post("/audiences/new")
async def post_new_segment(request: Request, session: Writer) -> Response:
    """A button of the builder: change the form's shape, or save the new segment."""
    return await _post(request, session, None)


@router.post("/audiences/{segment_id:int}/edit")
async def post_edit_segment(request: Request, session: Writer, segment_id: int) -> Response:
    """A button of the builder: change the form's shape, or save the segment's changes."""
    return await _post(request, session, segment_id)


async def _post(request: Request, session: ConsoleSession, segment_id: int | None) -> Response:
    form = await request.form()
    root = rows_from_form(_form_lists(form))
    meta = _meta(form)
    action = _text(form, "action")

    def answer() -> Response:
        with transaction(request) as connection:
            editing = segment_or_404(connection, segment_id) if segment_id is not None else None
            if editing is not None:
                meta.key = editing.key
            if action == "preview":  # without script: the count (so far) in the page
                shown = _preview(
                    connection, root, form, editing_key=meta.key or None,
                    allow_new_traits=meta.allow_new_traits, language=request.state.language,
                )  # fmt: skip
                return _page(
                    request, connection, root=root, meta=meta, editing=editing, preview=shown,
                    left=shown.left,
                )  # fmt: skip
            if action != "save":
                apply_action(root, action)
                return _page(
                    request, connection, root=root, meta=meta, editing=editing,
                    refresh_preview=True,
                )  # fmt: skip
            return _save(request, connection, session, root, meta, editing)

    return await run_in_threadpool(answer)


def _save(
    request: Request,
    connection: Connection,
    session: ConsoleSession,
    root: Row,
    meta: Meta,
    editing: Segment | None,
) -> Response:
    """Checks everything, and stores the segment when nothing is wrong (else the form again,
    422, every problem next to its field)."""
    if editing is None and not meta.key:
        meta.key = key_from_name(meta.name)
        if not meta.key and meta.name:
            meta.errors["key"] = "key_needed"
    if editing is None and meta.key and "key" not in meta.errors:
        if not store.KEY_PATTERN.match(meta.key):
            meta.errors["key"] = "invalid_key"
        elif meta.key in {s.key for s in store.all_segments(connection)}:
            meta.errors["key"] = "exists"
    if not meta.name:
        meta.errors["name"] = "name_needed"
    if len(meta.description) > MAX_DESCRIPTION:
        meta.errors["description"] = "description_long"
    built = build(root)
    for row, error in built.problems:
        row.errors.append(error)
    left: list[RowError] = []
    definition: Definition | None = None
    try:
        definition = store.check(
            connection,
            built.document,
            key=meta.key or None,
            allow_new_traits=meta.allow_new_traits,
        )
    except DefinitionError as error:
        left = place_problems(root, error.problems, _words(request.state.language))
    if meta.errors or built.problems or left or definition is None or _has_errors(root):
        return _page(
            request, connection, root=root, meta=meta, editing=editing, left=left, status_code=422
        )
    try:
        if editing is None:
            segment = store.create(
                connection,
                key=meta.key,
                name=meta.name,
                description=meta.description,
                definition=built.document,
                actor=actor(session),
                allow_new_traits=meta.allow_new_traits,
            )
            action = "audiences.create"
        else:
            same = definition_text(definition) == definition_text(editing.definition)
            segment = store.change(
                connection,
                editing.id,
                name=meta.name,
                description=meta.description,
                definition=None if same else built.document,
                actor=actor(session),
                allow_new_traits=meta.allow_new_traits,
            )
            action = "audiences.change"
    except SegmentError as refused:
        if refused.code in _META_FIELD:
            meta.errors[_META_FIELD[refused.code]] = refused.code
        else:  # too many segments, or gone meanwhile: the domain's words, translated
            said = refused.wording
            language = request.state.language
            meta.errors["name"] = i18n.say(said, language) if said else str(refused)
        return _page(request, connection, root=root, meta=meta, editing=editing, status_code=422)
    audit.record(
        connection,
        actor=actor(session),
        action=action,
        target=f"segment:{segment.key}",
        detail={"id": segment.id, "name": segment.name, "definition": segment.document},
    )
    return RedirectResponse(f"/console/audiences/{segment.id}?saved=1", status_code=303)


_META_FIELD: Final = {"invalid_key": "key", "exists": "key", "invalid_name": "name"}


def _has_errors(root: Row) -> bool:
    return any(row.errors for row in root.walk())


# --- The preview ----------------------------------------------------------------------------


def fingerprint(definition: Definition) -> str:
    """Names a definition, so a continued count knows it still counts the same one."""
    return hashlib.sha256(orjson.dumps(to_json(definition))).hexdigest()[:24]


def _start(form: FormData, expected: str) -> MatchCount:
    """Where a continued count got to, when it counted this definition; else the start."""
    if _text(form, "preview_fingerprint") != expected:
        return START
    after = _text(form, "preview_after")
    matched, checked = _text(form, "preview_matched"), _text(form, "preview_checked")
    if not (matched.isdigit() and checked.isdigit()) or len(after) > 64 or not after:
        return START
    return MatchCount(int(matched), int(checked), after, done=False)


@dataclass(slots=True)
class Preview:
    """What the preview shows."""

    root: Row
    left: list[RowError]
    text: str | None = None
    count: MatchCount | None = None
    fingerprint: str = ""


def _preview(
    connection: Connection,
    root: Row,
    form: FormData,
    *,
    editing_key: str | None,
    allow_new_traits: bool,
    language: str,
) -> Preview:
    """Checks the form's definition and counts (for PREVIEW_BUDGET, going on from where the
    form's last preview stopped when it counted the same definition)."""
    built = build(root)
    for row, error in built.problems:
        row.errors.append(error)
    try:
        definition = store.check(
            connection, built.document, key=editing_key, allow_new_traits=allow_new_traits
        )
    except DefinitionError as error:
        return Preview(root, place_problems(root, error.problems, _words(language)))
    if built.problems:
        return Preview(root, [])
    name = fingerprint(definition)
    found = count_matches(
        connection,
        definition,
        utc_now(),
        start=_start(form, name),
        budget_seconds=PREVIEW_BUDGET,
        page=PREVIEW_PAGE,
    )
    return Preview(root, [], in_words(definition, language), found, name)


@router.post("/audiences/preview")
async def preview(request: Request, session: Writer) -> Response:
    """How many people the definition in the form holds for right now (or so far), its
    words, and the problems of each row (swapped onto the rows out of band)."""
    form = await request.form()
    root = rows_from_form(_form_lists(form))
    engine = engine_of(request)

    def count() -> Preview:
        with engine.connect() as connection:
            return _preview(
                connection,
                root,
                form,
                editing_key=_text(form, "editing") or None,
                allow_new_traits=_text(form, "allow_new_traits") == "on",
                language=request.state.language,
            )

    shown = await run_in_threadpool(count)
    return render(request, "audiences/_preview.html", {"preview": shown})


@router.get("/audiences/trait-names")
def trait_names(request: Request, session: Writer) -> Response:
    """The traits profiles hold, as the builder's suggestions (loaded after the page: the
    query reads every profile's trait names)."""
    with transaction(request) as connection:
        names = profiles.trait_names(connection)
    return render(request, "audiences/_trait_names.html", {"names": names})
