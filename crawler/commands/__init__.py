"""One module per `newsmill` subcommand, each with `register(subparsers)`."""
