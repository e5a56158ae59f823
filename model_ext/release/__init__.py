"""Reading (and, for tests, writing) xAI's original Grok-1 release checkpoint, ``ckpt-0/``."""
