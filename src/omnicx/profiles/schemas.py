"""The profile documents the API answers with (and the CLI renders)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class IdentityOut(BaseModel):
    """One identifier of the profile."""

    value: str
    first_seen_at: datetime
    last_seen_at: datetime


class TraitOut(BaseModel):
    """A trait's value and where it came from."""

    value: Any
    source: str
    channel: str
    event_id: int
    message_id: str
    observed_at: datetime = Field(description="The time of the event that carried the value.")


class LastOrder(BaseModel):
    """The latest `Order Completed`."""

    at: datetime
    order_id: str | None
    value: float | None = Field(description="`revenue`, else `total`.")
    currency: str | None
    channel: str
    event_id: int


class CartItem(BaseModel):
    """A product in the open cart."""

    key: str = Field(description="`product_id`, else `sku`, else `name`.")
    name: str | None
    price: float | None
    quantity: float


class OpenCartOut(BaseModel):
    """Products added since the last completed order and not removed."""

    items: list[CartItem]
    value: float | None = Field(description="Sum of price × quantity of the priced items.")
    updated_at: datetime = Field(description="When the cart was last added to or removed from.")


class RfmOut(BaseModel):
    """Recency, frequency and monetary scores, 1 (lowest fifth) to 5 (highest fifth)."""

    recency: int
    frequency: int
    monetary: int
    code: str = Field(description='The three scores, e.g. "545".')


class ComputedTraits(BaseModel):
    """Traits computed from the profile's events (docs/profiles.md#computed-traits)."""

    first_seen_at: datetime | None
    last_seen_at: datetime | None
    events: int
    channels: dict[str, int] = Field(description="Events per channel.")
    preferred_channel: str | None = Field(
        description="The channel of most of the person's own actions in the 90 days up to "
        "their latest one."
    )
    orders: int
    lifetime_value: float = Field(description="Sum of the orders' `revenue` (else `total`).")
    last_order: LastOrder | None
    open_cart: OpenCartOut | None
    rfm: RfmOut | None


class ConsentOut(BaseModel):
    """A consent in force, or one signal of its history."""

    channel: str
    purpose: str
    granted: bool
    occurred_at: datetime
    signal: str = Field(
        description="What said it: `traits.emailOptIn`, `event Unsubscribed`, `api`…"
    )
    source: str | None = None
    event_id: int | None = None
    message_id: str | None = None
    actor: str | None = None
    note: str | None = None


class ProfileDocument(BaseModel):
    """Everything known about one customer: the single customer view."""

    id: str
    merged_from: str | None = Field(
        None, description="The id asked for, when it was merged into this profile."
    )
    identities: dict[str, list[IdentityOut]] = Field(description="Identifiers by type.")
    traits: dict[str, TraitOut]
    computed: ComputedTraits
    consents: list[ConsentOut]


class TimelineEvent(BaseModel):
    """One event of the cross-channel timeline."""

    id: int
    type: str
    event: str | None
    channel: str
    source: str
    message_id: str
    timestamp: datetime
    received_at: datetime
    message: dict[str, Any]


class TimelinePage(BaseModel):
    """A page of the timeline, newest first."""

    profile_id: str
    events: list[TimelineEvent]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class IdentifierRef(BaseModel):
    """An identifier named by a change or conflict."""

    type: str
    value: str


class ChangeOut(BaseModel):
    """An entry of the identity log: merged, split, unmerged, shared, erased, rebuild."""

    id: int
    kind: str
    profile_id: str | None
    other_profile_id: str | None
    identifier: IdentifierRef | None
    event_id: int | None
    rule: str
    actor: str | None
    created_at: datetime
    undone_by: int | None
    detail: dict[str, Any]


class ConflictOut(BaseModel):
    """A join a rule refused."""

    id: int
    identifier: IdentifierRef
    anchor: IdentifierRef
    profile_id: str | None
    other_profile_id: str | None
    reason: str
    detail: str
    first_event_id: int
    first_occurred_at: datetime
    events: int


class ConsentsOut(BaseModel):
    """The consents in force and every signal that set them."""

    profile_id: str
    consents: list[ConsentOut]
    history: list[ConsentOut]


class ConsentChange(BaseModel):
    """A consent given or withdrawn by a person through you (support desk, preference page)."""

    channel: str = Field(description="email, sms, push, whatsapp, post, web, ios, … or all.")
    purpose: str = Field(
        description="marketing, tracking, advertising, personalisation or data_sharing."
    )
    granted: bool
    note: str | None = Field(None, max_length=1000)


class UnmergeOut(BaseModel):
    """The two profiles an unmerge gave back."""

    change_id: int
    kept_profile_id: str
    restored_profile_id: str


class ErasureOut(BaseModel):
    """What an erasure deleted."""

    profile_id: str
    deleted: dict[str, int]
