"""Configuration: one dataclass tree for every command, and its field checks."""
