{{- /*
    Names of the chart's Kubernetes objects.

    Every object name (and every per-release path on the nodes) is made here,
    so that templates, NOTES.txt, tests and parent charts agree on them.
    Object names are at most 63 characters long (DNS-1123 label).
*/}}


{{- /*
    binderhub-service.name:
        The chart name, or nameOverride.
*/}}
{{- define "binderhub-service.name" -}}
    {{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}


{{- /*
    binderhub-service.fullname:
        The prefix of every object name, unique per release:
        - fullnameOverride when set;
        - else the release name when it already contains the chart name (or
          nameOverride);
        - else "<release>-<name>".
*/}}
{{- define "binderhub-service.fullname" -}}
    {{- if .Values.fullnameOverride }}
        {{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
    {{- else }}
        {{- $name := include "binderhub-service.name" . }}
        {{- if contains $name .Release.Name }}
            {{- .Release.Name | trunc 63 | trimSuffix "-" }}
        {{- else }}
            {{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
        {{- end }}
    {{- end }}
{{- end }}


{{- /*
    binderhub-service.suffixed-name:
        "<fullname>-<suffix>", with the fullname part shortened so that the
        suffix always survives the 63 character limit.
        Called with (list $ "suffix").
*/}}
{{- define "binderhub-service.suffixed-name" -}}
    {{- $root := index . 0 }}
    {{- $suffix := index . 1 }}
    {{- $max := sub 62 (len $suffix) | int }}
    {{- $prefix := include "binderhub-service.fullname" $root | trunc $max | trimSuffix "-" }}
    {{- printf "%s-%s" $prefix $suffix }}
{{- end }}


{{- /* The BinderHub Deployment, Service, Role, RoleBinding and Ingress. */}}
{{- define "binderhub-service.binderhub.fullname" -}}
    {{- include "binderhub-service.fullname" . }}
{{- end }}

{{- /* The Secret holding binderhub_config.py and the chart config. */}}
{{- define "binderhub-service.config.fullname" -}}
    {{- include "binderhub-service.suffixed-name" (list . "config") }}
{{- end }}

{{- /* The ServiceAccount used by the BinderHub pod ("" means the namespace default). */}}
{{- define "binderhub-service.serviceaccount.fullname" -}}
    {{- if .Values.serviceAccount.create }}
        {{- .Values.serviceAccount.name | default (include "binderhub-service.fullname" .) }}
    {{- else }}
        {{- .Values.serviceAccount.name }}
    {{- end }}
{{- end }}

{{- /*
    The Secret with the docker config.json mounted into build pods
    (KubernetesBuildExecutor.push_secret): an existing one, or ours.
*/}}
{{- define "binderhub-service.push-secret.fullname" -}}
    {{- .Values.buildPodsRegistryCredentials.existingSecret | default (include "binderhub-service.suffixed-name" (list . "build-pods-docker-config")) }}
{{- end }}

{{- /* The docker-api DaemonSet and its extraFiles Secret. */}}
{{- define "binderhub-service.docker-api.fullname" -}}
    {{- include "binderhub-service.suffixed-name" (list . "docker-api") }}
{{- end }}

{{- /*
    The Secret the chart generates once and keeps across upgrades: the
    secrets every BinderHub replica must share (build token, cookie).
*/}}
{{- define "binderhub-service.secrets.fullname" -}}
    {{- include "binderhub-service.suffixed-name" (list . "secrets") }}
{{- end }}

{{- /*
    The image cleaner's ServiceAccount and cluster RBAC (to cordon nodes), and
    its DaemonSet for the nodes' own Docker (dockerApi.type host).
*/}}
{{- define "binderhub-service.image-cleaner.fullname" -}}
    {{- include "binderhub-service.suffixed-name" (list . "image-cleaner") }}
{{- end }}

{{- /* NetworkPolicies. */}}
{{- define "binderhub-service.binderhub.netpol.fullname" -}}
    {{- include "binderhub-service.fullname" . }}
{{- end }}
{{- define "binderhub-service.build-pods.netpol.fullname" -}}
    {{- include "binderhub-service.suffixed-name" (list . "build-pods") }}
{{- end }}
{{- define "binderhub-service.docker-api.netpol.fullname" -}}
    {{- include "binderhub-service.docker-api.fullname" . }}
{{- end }}

{{- /* The pod run by `helm test`. */}}
{{- define "binderhub-service.test.fullname" -}}
    {{- include "binderhub-service.suffixed-name" (list . "test-versions") }}
{{- end }}



{{- /*
    Per-release paths on the nodes.

    The container engine's socket and data live under directories named after
    the namespace and release, so that several releases can share a cluster
    (and its nodes) without sharing a daemon. The 2i2c chart's configuration
    snippets compute the same path, so the form stays: namespace-release (which
    names binder-a/b and binder/a-b alike).
*/}}
{{- define "binderhub-service.docker-api.host-id" -}}
    {{- printf "%s-%s" .Release.Namespace .Release.Name }}
{{- end }}

{{- /* Directory holding the daemon's socket (and dockerd's exec root). */}}
{{- define "binderhub-service.docker-api.socket-dir" -}}
    {{- printf "/var/run/%s/docker-api" (include "binderhub-service.docker-api.host-id" .) }}
{{- end }}

{{- /* The daemon's unix socket: what build pods mount. */}}
{{- define "binderhub-service.docker-api.socket-path" -}}
    {{- if eq .Values.dockerApi.type "host" }}
        {{- print "/var/run/docker.sock" }}
    {{- else }}
        {{- printf "%s/docker-api.sock" (include "binderhub-service.docker-api.socket-dir" .) }}
    {{- end }}
{{- end }}

{{- /* The daemon's image and layer storage, when dockerApi.storage is empty. */}}
{{- define "binderhub-service.docker-api.data-dir" -}}
    {{- printf "/var/lib/%s/docker-api" (include "binderhub-service.docker-api.host-id" .) }}
{{- end }}
