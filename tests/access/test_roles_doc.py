"""docs/roles.md shows the permission policy as it is: its table is PERMISSIONS, row by row.

When a permission changes, run this test and paste the table it prints into docs/roles.md.
"""

from __future__ import annotations

from pathlib import Path

from omnicx.access.permissions import PERMISSIONS, roles_with
from omnicx.access.service import ROLE_DESCRIPTIONS, ROLES

ROLES_DOC = Path(__file__).resolve().parents[2] / "docs" / "roles.md"


def permission_table() -> str:
    """The permission × role table of docs/roles.md, made from PERMISSIONS."""
    lines = [
        "| permission | lets you | " + " | ".join(ROLES) + " |",
        "|---|---|" + "|".join(":-:" for _ in ROLES) + "|",
    ]
    for permission, (_roles, what) in PERMISSIONS.items():
        marks = " | ".join("✓" if role in roles_with(permission) else " " for role in ROLES)
        lines.append(f"| `{permission}` | {what} | {marks} |")
    return "\n".join(lines) + "\n"


def _table_in_doc(text: str) -> str:
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("| permission |"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "".join(lines[start:end])


def test_the_permission_table_is_the_policy() -> None:
    expected = permission_table()
    assert _table_in_doc(ROLES_DOC.read_text()) == expected, (
        "docs/roles.md's permission table differs from PERMISSIONS; paste this one:\n" + expected
    )


def test_every_role_is_described() -> None:
    text = ROLES_DOC.read_text()
    for role, what in ROLE_DESCRIPTIONS.items():
        assert f"| `{role}` | {what} |" in text, role


def test_the_table_reads_as_the_policy() -> None:
    # The table's marks, read back, are what `roles_with` says (guards the renderer above).
    rows = _table_in_doc(ROLES_DOC.read_text()).splitlines()[2:]
    read = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        marked = {role for role, cell in zip(ROLES, cells[2:], strict=True) if cell == "✓"}
        read[cells[0].strip("`")] = marked
    assert read == {permission: set(roles_with(permission)) for permission in PERMISSIONS}
