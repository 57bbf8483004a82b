"""The profiles domain's routes, settings and vocabulary are documented."""

from __future__ import annotations

from pathlib import Path

from omnicx.api.app import create_app
from omnicx.profiles import consent

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_profile_route_is_in_the_api_docs() -> None:
    text = (DOCS / "api.md").read_text()
    paths = create_app().openapi()["paths"]
    for path, operations in paths.items():
        if path.startswith(("/api/profiles", "/api/identity/changes")):
            for method in operations:
                assert f"`{method.upper()} {path}" in text or f"{method.upper()} {path}" in text, (
                    method,
                    path,
                )


def test_the_consent_vocabulary_is_documented() -> None:
    text = (DOCS / "profiles.md").read_text()
    for word in [*consent.PURPOSES, *consent.CONSENT_CHANNELS, *consent.SUBSCRIPTION_EVENTS]:
        assert f"`{word}`" in text, word
    for trait in consent.OPT_IN_TRAITS:
        assert trait in text or trait.replace("_", "").lower() in text.lower(), trait
