"""bhsvc: BinderHub as a standalone build-and-push service, wired into JupyterHub."""

__version__ = "0.1.0"
