"""Documentation stays true to the code: every setting is in the README's configuration table."""
from pathlib import Path

from automl.config import Settings

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [f"AUTOML_{name.upper()}" for name in Settings.model_fields if f"AUTOML_{name.upper()}" not in README]
    assert not missing, f"settings missing from README.md: {missing}"


def test_readme_shows_the_two_commands() -> None:
    assert "uv run automl serve" in README
    assert "uv run pytest" in README
    assert "pip install uv" in README
