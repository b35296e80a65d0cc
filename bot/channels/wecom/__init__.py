"""WeCom (企业微信) AI-bot channel: encrypted callbacks, stream replies, template cards."""
