{{- /*
    binderhub-service.netpol.build-egress:
        Egress rules of the pods that run untrusted build steps (build pods
        and the container engine): DNS, the public internet, and
        networkPolicy.extraEgress. Private address ranges and the cloud
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
{{- with .Values.networkPolicy.extraEgress }}
{{ toYaml . }}
{{- end }}
{{- end }}
