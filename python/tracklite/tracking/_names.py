"""Readable generated run names, in MLflow's ``adjective-noun-NNN`` shape."""

from __future__ import annotations

import random

_ADJECTIVES = (
    "able", "bold", "brave", "bright", "calm", "clever", "crisp", "dapper", "eager", "fair", "gentle", "glad",
    "grand", "handsome", "honest", "jolly", "keen", "kind", "lively", "lucky", "merry", "nimble", "polite",
    "proud", "quick", "quiet", "rare", "rosy", "shy", "silent", "sleek", "smart", "sunny", "swift", "tidy",
    "upbeat", "vivid", "warm", "wise", "zesty",
)
_NOUNS = (
    "ant", "bat", "bear", "bee", "crab", "crane", "deer", "dove", "duck", "eel", "fox", "frog", "gnu", "goat",
    "hare", "hawk", "hen", "horse", "jay", "koi", "lark", "lynx", "mole", "moth", "newt", "owl", "panda",
    "pig", "ram", "seal", "shrew", "sloth", "snail", "swan", "toad", "trout", "whale", "wolf", "worm", "yak",
)


def generate_run_name() -> str:
    """A random ``adjective-noun-NNN`` name such as ``brave-owl-417``."""
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(0, 999)}"
