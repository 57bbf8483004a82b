"""The identity settings of the demo retailer: which fields of each source identify people.

Kervan's systems each know people by their own ids: the e-mail and SMS platforms by contacts,
the help desk by requesters, social media by platform ids, the tills by loyalty card, the CRM
by its own customer number. Declaring them as identifier types (instead of letting them pass
as anonymousIds) lets the limits work: one CRM id and one web account per profile.
"""

from __future__ import annotations

from sqlalchemy import Engine

from omnicx.identity import service as identity_service
from omnicx.identity.settings_store import current_document

DEMO_IDENTITY_SETTINGS = """\
# Identity settings of the Kervan demo (docs/identity.md explains every key).

# Households share mailboxes, loyalty cards and tablets: an identifier seen with two web
# accounts or two CRM customers is shared and links nothing, and a device or browser id
# never joins two people who are both known by a stronger identifier.
[blocked]
max_people = 1

[identifiers.device_id]
bridges = false

[identifiers.anonymous_id]
bridges = false

[identifiers.crm_id]
normalise = "upper"
limit = 1

[identifiers.esp_contact]
limit = 2

[identifiers.sms_contact]
limit = 2

[identifiers.helpdesk_id]
limit = 2

[identifiers.social_id]
normalise = "lower"
limit = 3

[sources.crm.fields]
userId = "crm_id"
"traits.webCustomerId" = "user_id"

[sources.store_pos.fields]
anonymousId = "loyalty_card"

[sources.email.fields]
anonymousId = "esp_contact"

[sources.sms.fields]
anonymousId = "sms_contact"

[sources.support.fields]
anonymousId = "helpdesk_id"

[sources.social.fields]
anonymousId = "social_id"

[sources.phone.fields]
anonymousId = "phone"
"""


class DemoSettingsConflict(RuntimeError):
    """The database has identity settings of its own, which the demo will not replace."""


def apply_demo_identity_settings(engine: Engine) -> bool:
    """Stores the demo's identity settings unless they are in force; True when stored."""
    with engine.begin() as connection:
        document = current_document(connection)
        if document == DEMO_IDENTITY_SETTINGS:
            return False
        if document is not None:
            raise DemoSettingsConflict(
                "This database has identity settings of its own (omnicx identity settings "
                "shows them); the demo needs its own. Use another database (--db)."
            )
        identity_service.configure(connection, DEMO_IDENTITY_SETTINGS, name="demo settings")
    return True
