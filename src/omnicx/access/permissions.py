"""Who may do what: one policy for the admin API and the web console alike.

Each permission names the roles that hold it; `admin` holds every permission. The API's
routes and the console's pages and actions ask for a permission, never for a role, so the
two can never disagree. docs/roles.md shows this table; a test keeps the two in step.
"""

from __future__ import annotations

from omnicx.access.service import ROLES, AccessError

ADMIN = "admin"

PERMISSIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "overview.read": (("marketer", "analyst"), "see the overview: events, customers, conversion"),
    "profiles.read": (
        ("support", "marketer", "analyst"),
        "search customers; see a profile, its identities, traits and timeline",
    ),
    "profiles.personal_data": (
        ("support", "marketer"),
        "see e-mail addresses and phone numbers unmasked (others see them masked)",
    ),
    "profiles.consent": (("support", "marketer"), "change a customer's consent"),
    "profiles.repair": (("support",), "undo merges, review suggested matches"),
    "profiles.privacy": ((), "export or erase a customer's personal data"),
    "identity.matching": ((), "run probabilistic matching over everyone"),
    "analytics.read": (
        ("marketer", "analyst"),
        "journey analytics: funnels, paths, retention, attribution, channels",
    ),
    "analytics.configure": (("marketer",), "change the journey-stage model"),
    "audiences.read": (
        ("marketer", "analyst", "support"),
        "see segments, their members, scores and personas",
    ),
    "audiences.write": (("marketer",), "create, change and delete segments and scoring models"),
    "audiences.export": (("marketer",), "export segment members; manage webhook syncs"),
    "sources.read": (("marketer",), "see sources, the live event debugger and rejected events"),
    "sources.manage": ((), "add sources, rotate and disable their write keys"),
    "users.manage": ((), "console users, API tokens and the audit log"),
}
"""permission -> (roles besides admin that hold it, what it allows in a few words)."""


def validate_permission(permission: str) -> str:
    """Returns the permission if it exists, else raises AccessError listing them."""
    if permission not in PERMISSIONS:
        raise AccessError(
            f"Unknown permission {permission!r}; the permissions are {', '.join(PERMISSIONS)}."
        )
    return permission


def roles_with(permission: str) -> tuple[str, ...]:
    """The roles holding `permission`, admin first."""
    return (ADMIN, *PERMISSIONS[validate_permission(permission)][0])


def allows(role: str, permission: str) -> bool:
    """Tells whether `role` holds `permission`."""
    return role in roles_with(permission)


def permissions_of(role: str) -> frozenset[str]:
    """Every permission `role` holds."""
    if role not in ROLES:
        raise AccessError(f"Unknown role {role!r}; the roles are {', '.join(ROLES)}.")
    return frozenset(name for name in PERMISSIONS if allows(role, name))
