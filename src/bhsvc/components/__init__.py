"""The components an installation is made of (see `bhsvc.lifecycle`): Kubernetes
objects bhsvc writes itself (`kube_objects`), the values files (`values_files`),
helm releases (`releases`) and smoke checks (`checks`)."""
