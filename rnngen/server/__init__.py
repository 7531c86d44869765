"""``rnngen serve``: an OpenAI-compatible completions server (aiohttp), a front end over the API."""
