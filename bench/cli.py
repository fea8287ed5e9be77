"""`bench` command."""


def main() -> int:
    return 0
