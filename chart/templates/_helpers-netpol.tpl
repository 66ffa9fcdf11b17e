{{- /*
    binderhub-service.netpol.build-egress:
        Egress rules of the pods that run untrusted build steps (build pods
        and the container engine): the cluster's DNS, the public internet
        (IPv4 and IPv6), and networkPolicy.extraEgress. Private address
        ranges and the cloud metadata server stay out of reach: on GKE with
        Workload Identity the GKE metadata server answers at 169.254.169.254
        (port 80) and at 169.254.169.252 (port 988), where the iptables
        dataplane has already sent a pod's request when policies are checked.
*/}}
{{- define "binderhub-service.netpol.build-egress" -}}
{{ include "binderhub-service.netpol.dns-egress" . }}
- to:
    - ipBlock:
        cidr: 0.0.0.0/0
        except:
          - 10.0.0.0/8
          - 172.16.0.0/12
          - 192.168.0.0/16
          - 169.254.169.254/32
          - 169.254.169.252/32
    # The same on IPv6 (dual-stack and IPv6 clusters): unique-local (which holds
    # cloud metadata addresses such as fd00:ec2::254), link-local, and IPv4
    # written as IPv6.
    - ipBlock:
        cidr: ::/0
        except:
          - fc00::/7
          - fe80::/10
          - ::ffff:0:0/96
{{- with .Values.networkPolicy.extraEgress }}
{{ toYaml . }}
{{- end }}
{{- end }}



{{- /*
    binderhub-service.netpol.dns-egress:
        DNS (port 53, UDP and TCP) to networkPolicy.dns.to only: by default
        the cluster DNS pods (kube-system, k8s-app: kube-dns), rather than any
        address, which would open port 53 of every private address. An empty
        list allows port 53 anywhere.
*/}}
{{- define "binderhub-service.netpol.dns-egress" -}}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
  {{- with .Values.networkPolicy.dns.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
