"""The studio's services. Nothing here imports gradio; every module is usable from a script."""
