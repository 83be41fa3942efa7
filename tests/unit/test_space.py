"""The repository is also a Docker Space: its README's front matter, read by huggingface_hub as
the Hub reads it, agrees with the Dockerfile and the settings."""
import re

from huggingface_hub import SpaceCard

from studio import config


def test_the_front_matter_starts_the_dockerfile_on_the_studios_port():
    card = SpaceCard.load(config.REPO / "README.md").data
    dockerfile = (config.REPO / "Dockerfile").read_text()
    assert card.sdk == "docker"
    assert card.app_port == config.Settings().port == 7860
    assert re.search(rf"^EXPOSE {card.app_port}$", dockerfile, re.M)
    assert f"STUDIO_PORT={card.app_port}" in dockerfile
    assert card.suggested_hardware in ("t4-small", "t4-medium", "l4x1", "a10g-small", "a10g-large",
                                       "a100-large")
    # The first start of a new Space also pulls the image; the Hub's default is 30 minutes.
    amount, unit = re.fullmatch(r"(\d+)([mh])", card.startup_duration_timeout).groups()
    assert int(amount) * (60 if unit == "h" else 1) >= 30
    assert len(card.short_description) <= 60  # the Hub refuses longer ones



def test_the_space_signs_visitors_in_with_their_hugging_face_account():
    card = SpaceCard.load(config.REPO / "README.md").data
    # With hf_oauth the Hub hands the Space OAUTH_CLIENT_ID and friends: studio/core/auth.py then
    # requires sign-in, open only to the owner and STUDIO_HF_ALLOW.
    assert card.hf_oauth is True
    assert int(card.hf_oauth_expiration_minutes) >= 60
