"""`python -m grok_client`: the `grok` command, for environments without the console script."""

from grok_client.cli import main

raise SystemExit(main())
