"""A segment's members as the export writers (ad_export) need them, read page by page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from sqlalchemy import Connection

from omnicx.audiences.ad_export import AdMember, ad_consent_granted
from omnicx.audiences.facts import consents_in_force
from omnicx.audiences.membership import members_page
from omnicx.profiles import service as profiles

PAGE: Final = 1000


def export_members(connection: Connection, segment_id: int) -> Iterator[AdMember]:
    """Every member of the segment with their e-mails, phones, traits and whether they
    consented to advertising, by profile id."""
    after = ""
    while page := members_page(connection, segment_id, after=after, limit=PAGE):
        after = page[-1][0]
        documents = profiles.documents(connection, [p for p, _ in page])
        for profile_id, _ in page:
            document = documents.get(profile_id)
            if document is None:
                continue  # merged away or erased since it entered: the consumer will drop it
            yield AdMember(
                profile_id=profile_id,
                consented=ad_consent_granted(consents_in_force(document.consents)),
                emails=[i.value for i in document.identities.get("email", [])],
                phones=[i.value for i in document.identities.get("phone", [])],
                traits={name: trait.value for name, trait in document.traits.items()},
            )
