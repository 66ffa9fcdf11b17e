{{- /*
    binderhub-service.netpol.build-egress:
        Egress rules of the pods that run untrusted build steps (build pods
        and the container engine): DNS, the public internet (IPv4 and IPv6),
        and networkPolicy.extraEgress. Private address ranges and the cloud
        metadata server stay out of reach.
*/}}
{{- define "binderhub-service.netpol.build-egress" -}}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
- to:
    - ipBlock:
        cidr: 0.0.0.0/0
        except:
          - 10.0.0.0/8
          - 172.16.0.0/12
          - 192.168.0.0/16
          - 169.254.169.254/32
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
