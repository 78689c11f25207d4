"""`python -m influence.features`: regenerate the feature tables of docs/features.md from FEATURE_DOCS."""

from __future__ import annotations

from influence.features import render_features_doc
from influence.settings import project_root


def main() -> int:
    path = project_root() / "docs" / "features.md"
    text = path.read_text(encoding="utf-8")
    new = render_features_doc(text)
    if new != text:
        path.write_text(new, encoding="utf-8")
        print(f"updated {path}")
    else:
        print(f"{path} is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
