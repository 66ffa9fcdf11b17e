"""The Kubernetes adapter, one module per job: connecting (`kubeconfig`), the API
client (`client`), port-forwarding (`portforward`) and failure diagnosis
(`diagnosis`)."""

from bhsvc.kube.client import Kube
from bhsvc.kube.kubeconfig import connect
from bhsvc.kube.portforward import port_forward

__all__ = ["Kube", "connect", "port_forward"]
