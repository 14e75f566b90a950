"""The `cnnlab` subcommands besides train: each module has `main(args) -> exit code`."""
