"""Demo content (PLACEHOLDER until the demo-content work lands)."""


def seed_demo(only_if_empty: bool = False) -> str:
    return "No demo content yet."
