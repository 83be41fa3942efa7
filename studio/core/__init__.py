"""The studio's core: where it runs and what that machine allows."""
