"""`python -m bot`: the Telegram bot when a token is set, else a console chat."""

import sys

from bot.cli import main

sys.exit(main())
