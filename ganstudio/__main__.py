"""`python -m ganstudio` runs the same entry point as the `ganstudio` command."""
from ganstudio.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
