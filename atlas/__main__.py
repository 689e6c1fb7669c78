"""``python -m atlas`` (and ``torchrun -m atlas``) entry point."""

from atlas.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
