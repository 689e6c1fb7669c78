"""Command line: the ``atlas`` entry point and its subcommands."""
