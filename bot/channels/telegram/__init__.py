"""The Telegram channel: python-telegram-bot over the channel-free assistant core."""
