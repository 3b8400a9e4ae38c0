"""Running DOST: the zero-config local stack, the `dost` command, container and Kubernetes files."""
