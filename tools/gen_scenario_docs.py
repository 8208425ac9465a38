"""Write docs/scenario-keys.md from the scenario models (the one source of truth)."""

from pathlib import Path

from seoulfall.scenario import keys_markdown

if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "docs" / "scenario-keys.md"
    out.write_text(keys_markdown(), encoding="utf-8")
    print(out)
